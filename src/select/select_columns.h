// Expert Choice selection: the `cap` best rows of every column of a
// row-major score block, as routing and usmoe_topc_cols both run it.
#ifndef USMOE_SRC_SELECT_SELECT_COLUMNS_H_
#define USMOE_SRC_SELECT_SELECT_COLUMNS_H_

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "src/runtime/threads.h"
#include "src/select/topc_binned.h"
#include "src/select/topc_global.h"

namespace usmoe {

// Kept by the caller and only grown: fresh multi-megabyte buffers cost page
// faults comparable to the selection itself.
struct ColumnSelectScratch {
  std::vector<float> columns;         // transposed columns, GatherColumnStride apart
  std::vector<BinnedScratch> binned;  // one per thread
  std::vector<uint32_t> picked;       // one slice of m + 64 per thread
  std::vector<float> col_min, col_max;  // every column's extremes (from the transpose)
  std::vector<float> part_ext;          // per row-block part: its minima, then maxima
};

// For each column e < n of the m rows row(i) = rows[i] (or i when rows is
// null) of src (row stride n): the threshold of its cap largest values
// (topc_binned.cc) and an ascending compaction, so the winners come out as
// ascending positions i, ties taken by lower i. Calls
// emit(thread, e, column, picked, count) once per column, column being the
// e-th column (column[i] = src[row(i)·n + e]), from OpenMP workers
// (NumThreads(), dynamic) when the block is large enough. emit may reorder
// picked[0..count). 1 <= cap <= m; no NaN in the block.
//
// The columns are transposed in strips of 16 (one register transpose wide)
// and each strip is selected right after its transpose, while it is in L2:
// transposing the whole block first left a 4096x64 block's columns in L3 by
// the time their selection read them. With fewer strips than threads, the
// whole block is transposed first so the columns can still be shared out.
template <class Emit>
void SelectColumns(const float* src, int64_t n, const int64_t* rows, int64_t m, int64_t cap,
                   ColumnSelectScratch* s, const Emit& emit) {
  constexpr int64_t kStrip = 16;
  const int threads = NumThreads();
  const bool parallel = SplitThreads(m * n > (1 << 15)) > 1;
  const int64_t strips = (n + kStrip - 1) / kStrip;
  const bool by_strip = !parallel || strips >= threads;
  const int64_t ld = GatherColumnStride(m);
  const int64_t width = by_strip ? std::min(n, kStrip) : n;  // columns per buffer
  const size_t buf = static_cast<size_t>(width * ld);
  const size_t slice = static_cast<size_t>(m + 64);
  const int buffers = by_strip && parallel ? threads : 1;  // one strip buffer per worker
  if (s->columns.size() < buffers * buf) s->columns.resize(buffers * buf);
  if (static_cast<int>(s->binned.size()) < threads) s->binned.resize(threads);
  if (s->picked.size() < threads * slice) s->picked.resize(threads * slice);
  if (static_cast<int64_t>(s->col_min.size()) < n) {
    s->col_min.resize(n);
    s->col_max.resize(n);
  }
  // The workers use these pointers, not s: a caller's thread_local scratch
  // named inside the region would be each worker's own.
  float* const columns = s->columns.data();
  BinnedScratch* const binned = s->binned.data();
  uint32_t* const picked = s->picked.data();
  float* const col_min = s->col_min.data();
  float* const col_max = s->col_max.data();
  const auto select = [&](int me, int64_t e, const float* col) {
    uint32_t* pk = picked + me * slice;
    const TopCThreshold th =
        FindTopCThresholdBinned(col, m, cap, col_min[e], col_max[e], &binned[me]);
    const int64_t count = CompactTopCIndices(col, m, th, pk);
    emit(me, e, col, pk, count);
  };
  if (by_strip) {
    ParallelFor(parallel ? threads : 1, strips, true, [&](int64_t strip, int me) {
      const int64_t e0 = strip * kStrip, w = std::min(kStrip, n - e0);
      float* cols = columns + me * buf;
      GatherColumns(src + e0, n, rows, m, w, cols, ld, col_min + e0, col_max + e0);
      for (int64_t j = 0; j < w; ++j) select(me, e0 + j, cols + j * ld);
    });
    return;
  }
  // Few wide columns (n <= 16 · threads): transpose by row blocks, then
  // select by column, both shared out.
  // Each part's extremes go to its own slot, merged afterwards.
  const int64_t chunk = ((m + threads - 1) / threads + 15) / 16 * 16;
  const int64_t parts = (m + chunk - 1) / chunk;
  s->part_ext.resize(static_cast<size_t>(2 * parts * n));
  float* const ext = s->part_ext.data();
  ParallelFor(threads, parts, false, [&](int64_t p, int) {
    const int64_t i0 = p * chunk, i1 = std::min(m, i0 + chunk);
    GatherColumns(rows ? src : src + i0 * n, n, rows ? rows + i0 : nullptr, i1 - i0, n,
                  columns + i0, ld, ext + 2 * p * n, ext + (2 * p + 1) * n);
  });
  for (int64_t e = 0; e < n; ++e) {
    col_min[e] = ext[e];
    col_max[e] = ext[n + e];
    for (int64_t p = 1; p < parts; ++p) {
      col_min[e] = std::min(col_min[e], ext[2 * p * n + e]);
      col_max[e] = std::max(col_max[e], ext[(2 * p + 1) * n + e]);
    }
  }
  ParallelFor(threads, n, true, [&](int64_t e, int me) { select(me, e, columns + e * ld); });
}

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_SELECT_COLUMNS_H_
