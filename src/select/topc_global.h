// Global top-c over a contiguous float array, SIMD fast path.
#ifndef USMOE_SRC_SELECT_TOPC_GLOBAL_H_
#define USMOE_SRC_SELECT_TOPC_GLOBAL_H_

#include <cstdint>
#include <vector>

#include "src/runtime/threads.h"
#include "src/select/topc_binned.h"
#include "src/select/topc_radix.h"

namespace usmoe {

struct TopCScratch {
  // One contiguous range of the input, as the first full pass saw it.
  struct Part {
    int64_t begin = 0, end = 0;  // cells [begin, end)
    int64_t above = 0;           // cells above the bracket
    int64_t cand = 0, num_cand = 0;  // its candidates: cand_values[cand, +num_cand)
    int64_t ties = 0, out = 0;   // ties it selects; where its output starts
    bool nan = false;
  };
  std::vector<float> cand_values;  // the first pass's candidates, range by range
  std::vector<float> cand_later;   // two ping-pong buffers for the later rounds
  std::vector<float> sample;
  std::vector<float> sample_work;  // the sample's order statistics
  std::vector<Part> parts;
  BinnedScratch binned;            // the exact finish among the candidates
};

// The k-th largest (0-based, k < n) of v[0..n), no NaN; v is not changed.
// Vector three-way partitions (the bracketing sample's order statistics).
float KthLargest(const float* v, int64_t n, int64_t k, std::vector<float>* work);

// Writes the selected flat indices (ascending) for threshold th; returns
// how many (= c). out needs n + 64 entries of room (vector stores spill).
int64_t CompactTopCIndices(const float* values, int64_t n, TopCThreshold th, uint32_t* out);

// From this many cells SelectTopCIndices is split over the threads
// (TopCThreads). Measured on 2 threads (BM_TopcGlobal, old and new binaries
// alternated, 7 runs): 32768x64 (2M cells) 666-791 -> 466-588 us, 4096x256
// (1M) 269-353 -> 243-314 us; split from 64k cells, 4096x64 (262k) went
// 83-107 -> 107-127 us: below ~1M cells the regions' wake-ups cost more
// than the split passes save (the serial rounds between them stay).
constexpr int64_t kTopCSplitCells = int64_t{1} << 20;

// The top-c of values[0..n) as ascending flat indices in out (n + 64
// entries of room: vector stores spill); returns how many (= c). The
// threshold comes from rounds of bracketing with a deterministic sample and
// one counting/compress pass each, then the binned exact select
// (topc_binned.h) among the last candidates, or among all of them when a
// bracket misses (adversarial distributions); a compaction pass writes the
// indices. The two full passes (the first round's and the compaction) are
// split over up to `threads` contiguous ranges: the first tells each range
// where its output starts, so no pass is added. 1 <= c <= n, n < 2^32.
// With saw_nan null the caller guarantees values hold no NaN. Otherwise
// *saw_nan tells whether one is present, and then 0 is returned and out
// holds nothing meaningful; the check rides on the first full pass.
int64_t SelectTopCIndices(const float* values, int64_t n, int64_t c, int threads,
                          TopCScratch* scratch, uint32_t* out, bool* saw_nan = nullptr);

// The threads SelectTopCIndices should get for n cells.
inline int TopCThreads(int64_t n) { return SplitThreads(n >= kTopCSplitCells); }

// cols[e·ld + i] = src[row(i)·stride + e] for e < n and i < m, where
// row(i) = rows[i], or i when rows is null: n columns of the selected rows,
// ld apart (ld >= m); col_min[e] and col_max[e] receive each column's
// extremes (n entries each; no NaN in the block).
void GatherColumns(const float* src, int64_t stride, const int64_t* rows, int64_t m, int64_t n,
                   float* cols, int64_t ld, float* col_min, float* col_max);

// The column stride GatherColumns should get for m rows: m rounded up to a
// cache line, moved off multiples of 1 KB. With T = 4096 a plain stride is
// 16 KB, every column's line of a 16-row block falls in the same L1 set,
// and the gather ran at a fifth of its speed on Zen 5.
int64_t GatherColumnStride(int64_t m);

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_TOPC_GLOBAL_H_
