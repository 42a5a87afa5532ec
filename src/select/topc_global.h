// Global top-c over a contiguous float array, SIMD fast path.
#ifndef USMOE_SRC_SELECT_TOPC_GLOBAL_H_
#define USMOE_SRC_SELECT_TOPC_GLOBAL_H_

#include <cstdint>
#include <vector>

#include "src/select/topc_binned.h"
#include "src/select/topc_radix.h"

namespace usmoe {

struct TopCScratch {
  std::vector<float> cand_values;  // two ping-pong candidate buffers
  std::vector<float> sample;
  BinnedScratch binned;            // the exact finish among the candidates
};

// The exact threshold of the top-c of values[0..n): rounds of bracketing
// with a deterministic sample and one counting/compress pass each, then an
// exact nth_element among the last candidates (also the path taken when a
// bracket misses, e.g. on adversarial distributions). 1 <= c <= n, n < 2^32.
// With saw_nan null the caller guarantees values hold no NaN. Otherwise
// *saw_nan tells whether one is present (then the threshold is meaningless);
// the check rides on the first full pass and costs no pass of its own.
TopCThreshold FindTopCThresholdSampled(const float* values, int64_t n, int64_t c,
                                       TopCScratch* scratch, bool* saw_nan = nullptr);

// Writes the selected flat indices (ascending) for threshold th; returns
// how many (= c). out needs n + 64 entries of room (vector stores spill).
int64_t CompactTopCIndices(const float* values, int64_t n, TopCThreshold th, uint32_t* out);

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
