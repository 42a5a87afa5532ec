// Work-item lists and their dynamic scheduling (see experts_schedule.h).
#include "src/exec/experts_schedule.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>

namespace usmoe {

std::vector<WorkItem> MakeWorkItems(const FfnSegment* segs, int64_t count, int64_t max_rows,
                                    const StageShape& stage) {
  std::vector<WorkItem> items;
  for (int64_t s = 0; s < count; ++s) {
    const FfnSegment& seg = segs[s];
    if (seg.rows == 0) continue;
    // Equal row blocks (not max_rows and a remainder): no tiny tail item.
    const int64_t nrb = (seg.rows + max_rows - 1) / max_rows;
    const int64_t nb = stage.num_blocks(seg);
    for (int64_t rb = 0; rb < nrb; ++rb) {
      const int64_t r0 = seg.rows * rb / nrb, r1 = seg.rows * (rb + 1) / nrb;
      for (int64_t b = 0; b < nb; ++b)
        items.push_back(WorkItem{s, b, r0, r1, stage.cost(seg, b, r1 - r0)});
    }
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const WorkItem& a, const WorkItem& b) { return a.cost > b.cost; });
  return items;
}

void RunWorkItems(const std::vector<WorkItem>& items, int threads,
                  const std::function<void(const WorkItem&, int thread)>& fn) {
  const int64_t n = static_cast<int64_t>(items.size());
  if (n == 0) return;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
#pragma omp parallel num_threads(threads)
  {
    // Nested regions (the gate GEMM's, oneDNN's) stay on this thread.
    omp_set_num_threads(1);
    const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;
      try {
        fn(items[i], tid);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace usmoe
