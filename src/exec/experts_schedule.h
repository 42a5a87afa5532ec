// Work items of the grouped GEMM and their dynamic scheduling.
//
// A stage (up projection, or down projection) of all FFN segments is cut
// into items (segment × row block × column block). Items are run longest
// first from a shared queue (OpenMP dynamic schedule), so a heavily loaded
// expert does not leave a core idle, and decoding (a few rows per expert)
// still spreads each expert's weight stream over every core through its
// column blocks. Which thread runs an item never changes what it computes:
// every backend's item writes its own rows × columns from its inputs alone.
#ifndef USMOE_SRC_EXEC_EXPERTS_SCHEDULE_H_
#define USMOE_SRC_EXEC_EXPERTS_SCHEDULE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "src/exec/experts_impl.h"

namespace usmoe {

struct WorkItem {
  int64_t seg = 0;    // index into the segment array
  int64_t block = 0;  // column block (backend-defined width)
  int64_t r0 = 0, r1 = 0;  // rows [r0, r1) of the segment
  double cost = 0;
};

// Column blocks of one segment and the cost of an item of `rows` rows in
// block `block` (any unit, used only to order items).
struct StageShape {
  std::function<int64_t(const FfnSegment&)> num_blocks;
  std::function<double(const FfnSegment&, int64_t block, int64_t rows)> cost;
};

// Every (segment, row block of at most max_rows rows, column block), longest
// first; equal costs keep creation order, so the list is deterministic.
std::vector<WorkItem> MakeWorkItems(const FfnSegment* segs, int64_t count, int64_t max_rows,
                                    const StageShape& stage);

// Runs fn(item, thread) for every item on `threads` OpenMP threads with a
// dynamic schedule. Inside, each thread's OpenMP thread count is 1, so a
// library called by fn (oneDNN, the gate GEMM) runs on the calling thread
// only. The first exception thrown by fn stops the remaining items and is
// rethrown here after the parallel region.
void RunWorkItems(const std::vector<WorkItem>& items, int threads,
                  const std::function<void(const WorkItem&, int thread)>& fn);

}  // namespace usmoe

#endif  // USMOE_SRC_EXEC_EXPERTS_SCHEDULE_H_
