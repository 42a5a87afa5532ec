// GemmBf16 with vdpbf16ps: one instruction multiplies a broadcast bf16 pair of
// X with one k-pair of 16 packed W rows and adds both products into 16 f32
// lanes, twice the MACs of an f32 FMA for the same issue slot.
//
// Register tiles (32 zmm):
//   2..4 panels: 6 rows × NP panels = up to 24 accumulators, NP W loads and
//     6 pair broadcasts per 6·NP vdpbf16ps (as the f32 gate kernel, whose
//     8×2 tile lost to broadcast pressure).
//   1 panel (8 < n ≤ 16, or the last panel of a group): 8 rows × 1 panel,
//     the one W load per k-pair shared by 8 rows (kMRNarrow below).
//   ≤ 8 columns (n ≤ 8, e.g. 8 experts, or a last group of ≤ 8): 8 rows,
//     each vector holding two k-pairs of the 8 columns (TileHalf below), so
//     no lane computes a padding column.
// k is blocked by kKcPairs pairs: a group's W slice (4 panels × 128 pairs ×
// 64 B = 32 KiB) stays in L1 (48 KiB on Zen 5) while the kRowBlock rows of a
// work item reuse it. Partial sums between k blocks live in y itself (f32
// loads and stores are exact, so blocking does not change the result);
// columns past n are masked off.
#include "src/gemm/gemm_bf16_avx512bf16.h"

#if USMOE_HAVE_AVX512BF16_GEMM

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "src/gemm/gemm_bf16.h"
#include "src/runtime/threads.h"

#define USMOE_TARGET_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace usmoe {
namespace {

constexpr int kMR = 6;
// 1-panel and two-pair tiles: 8 rows. More rows would share each W load
// wider, but rows at a 4 KiB-multiple stride (K = 2048, 4096) share one L1
// set and 12 or 16 of them thrash its 12 ways. Measured at T=4096, 1 thread:
// n=8, K=4096: 3.1 ms (8 rows) vs 3.4 (6 or 12), 4.1 (16); n=16: K=4096
// 3.9-4.2 ms (8) vs 4.7-4.9 (12), 6.3 (16); K=2000: 1.7-1.9 ms for 8 to 16.
constexpr int kMRNarrow = 8;
constexpr int kMRHalf = 8;
constexpr int kPanelsPerGroup = 4;
constexpr int64_t kKcPairs = 128;
constexpr int64_t kRowBlock = 48;  // a multiple of every tile height (6, 8)

USMOE_TARGET_AVX512BF16 inline __m512i BroadcastPair(const uint16_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(static_cast<int>(v));
}

// Columns of panel p (of the group) that exist in y.
inline __mmask16 PanelMask(int64_t cols, int p) {
  const int64_t c = cols - int64_t{p} * kBf16Panel;
  return c >= kBf16Panel ? static_cast<__mmask16>(0xFFFF)
                         : static_cast<__mmask16>((1u << c) - 1u);
}

// y[r][panel cols] (+)= x[r][2·kp0 .. 2·kp1) · W-panels, for MR rows and NP
// panels. w: the group's first panel; panel_stride: elements per panel.
template <int MR, int NP>
USMOE_TARGET_AVX512BF16 void Tile(const uint16_t* x, int64_t ldx, const uint16_t* w,
                                  int64_t panel_stride, int64_t kp0, int64_t kp1, int64_t k,
                                  int64_t cols, float* y, int64_t ldy) {
  __mmask16 mask[NP];
  for (int p = 0; p < NP; ++p) mask[p] = PanelMask(cols, p);
  __m512 acc[MR][NP];
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p)
      acc[r][p] = kp0 == 0 ? _mm512_setzero_ps()
                           : _mm512_maskz_loadu_ps(mask[p], y + r * ldy + p * kBf16Panel);
  const int64_t full = std::min(kp1, k / 2);  // pairs with both elements in x
  for (int64_t kp = kp0; kp < full; ++kp) {
    __m512i wv[NP];
    for (int p = 0; p < NP; ++p)
      wv[p] = _mm512_loadu_si512(w + p * panel_stride + kp * 2 * kBf16Panel);
    for (int r = 0; r < MR; ++r) {
      const __m512bh xb = (__m512bh)BroadcastPair(x + r * ldx + 2 * kp);
      for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], xb, (__m512bh)wv[p]);
    }
  }
  if (kp1 > full) {  // odd k: the last pair is (x[k-1], 0); x[k] is not read
    const int64_t kp = full;
    __m512i wv[NP];
    for (int p = 0; p < NP; ++p)
      wv[p] = _mm512_loadu_si512(w + p * panel_stride + kp * 2 * kBf16Panel);
    for (int r = 0; r < MR; ++r) {
      const __m512bh xb = (__m512bh)_mm512_set1_epi32(x[r * ldx + 2 * kp]);
      for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], xb, (__m512bh)wv[p]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p)
      _mm512_mask_storeu_ps(y + r * ldy + p * kBf16Panel, mask[p], acc[r][p]);
}

// n ≤ 8: only half of a panel's lanes would carry outputs, so a vector holds
// two k-pairs instead: lanes 2c and 2c+1 accumulate column c over the even
// and the odd k-pairs (a 64-bit X broadcast supplies pairs kp and kp+1, a
// permute interleaves the two W pair lines), and the two partial sums are
// added when the tile is stored. Between k blocks a partial y re-enters the
// even lane. All 16 lanes do useful work: twice the rate of a 1-panel tile.
template <int MR>
USMOE_TARGET_AVX512BF16 void TileHalf(const uint16_t* x, int64_t ldx, const uint16_t* w,
                                      int64_t kp0, int64_t kp1, int64_t k, int64_t cols,
                                      float* y, int64_t ldy) {
  const __m512i interleave =
      _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  unsigned even_bits = 0;  // lanes 2c, c < cols
  for (int64_t c = 0; c < cols; ++c) even_bits |= 1u << (2 * c);
  const __mmask16 even = static_cast<__mmask16>(even_bits);
  const __mmask16 out = static_cast<__mmask16>((1u << cols) - 1u);
  __m512 acc[MR];
  for (int r = 0; r < MR; ++r)
    acc[r] = kp0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_expandloadu_ps(even, y + r * ldy);
  const int64_t full = std::min(kp1, k / 2);
  int64_t kp = kp0;
  for (; kp + 2 <= full; kp += 2) {
    const __m512i wv = _mm512_permutex2var_epi32(
        _mm512_loadu_si512(w + kp * 2 * kBf16Panel), interleave,
        _mm512_loadu_si512(w + (kp + 1) * 2 * kBf16Panel));
    for (int r = 0; r < MR; ++r) {
      uint64_t pairs;
      std::memcpy(&pairs, x + r * ldx + 2 * kp, sizeof(pairs));
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_set1_epi64(static_cast<long long>(pairs)),
                                (__m512bh)wv);
    }
  }
  for (; kp < kp1; ++kp) {  // a last single pair (odd pair count or odd k)
    const __m512i wv = _mm512_permutex2var_epi32(_mm512_loadu_si512(w + kp * 2 * kBf16Panel),
                                                 interleave, _mm512_setzero_si512());
    for (int r = 0; r < MR; ++r) {
      uint32_t pair = x[r * ldx + 2 * kp];
      if (kp < full) std::memcpy(&pair, x + r * ldx + 2 * kp, sizeof(pair));
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_set1_epi64(pair), (__m512bh)wv);
    }
  }
  for (int r = 0; r < MR; ++r) {
    const __m512 sum = _mm512_add_ps(acc[r], _mm512_shuffle_ps(acc[r], acc[r], 0xB1));
    _mm512_mask_storeu_ps(y + r * ldy, out, _mm512_maskz_compress_ps(even, sum));
  }
}

USMOE_TARGET_AVX512BF16 void RowsHalf(const uint16_t* x, int64_t ldx, const uint16_t* w,
                                      int64_t kp0, int64_t kp1, int64_t k, int64_t rows,
                                      int64_t cols, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + kMRHalf <= rows; r += kMRHalf)
    TileHalf<kMRHalf>(x + r * ldx, ldx, w, kp0, kp1, k, cols, y + r * ldy, ldy);
  for (; r + 4 <= rows; r += 4)
    TileHalf<4>(x + r * ldx, ldx, w, kp0, kp1, k, cols, y + r * ldy, ldy);
  for (; r < rows; ++r) TileHalf<1>(x + r * ldx, ldx, w, kp0, kp1, k, cols, y + r * ldy, ldy);
}

template <int NP>
USMOE_TARGET_AVX512BF16 void Rows(const uint16_t* x, int64_t ldx, const uint16_t* w,
                                  int64_t panel_stride, int64_t kp0, int64_t kp1, int64_t k,
                                  int64_t rows, int64_t cols, float* y, int64_t ldy) {
  int64_t r = 0;
  if constexpr (NP == 1) {
    for (; r + kMRNarrow <= rows; r += kMRNarrow)
      Tile<kMRNarrow, 1>(x + r * ldx, ldx, w, panel_stride, kp0, kp1, k, cols, y + r * ldy, ldy);
  }
  for (; r + kMR <= rows; r += kMR)
    Tile<kMR, NP>(x + r * ldx, ldx, w, panel_stride, kp0, kp1, k, cols, y + r * ldy, ldy);
  const uint16_t* xr = x + r * ldx;
  float* yr = y + r * ldy;
  switch (rows - r) {
    case 5: return Tile<5, NP>(xr, ldx, w, panel_stride, kp0, kp1, k, cols, yr, ldy);
    case 4: return Tile<4, NP>(xr, ldx, w, panel_stride, kp0, kp1, k, cols, yr, ldy);
    case 3: return Tile<3, NP>(xr, ldx, w, panel_stride, kp0, kp1, k, cols, yr, ldy);
    case 2: return Tile<2, NP>(xr, ldx, w, panel_stride, kp0, kp1, k, cols, yr, ldy);
    case 1: return Tile<1, NP>(xr, ldx, w, panel_stride, kp0, kp1, k, cols, yr, ldy);
    default: return;
  }
}

// Rows [0, rows) of x against panels [p0, p0 + np) (np ≤ kPanelsPerGroup).
USMOE_TARGET_AVX512BF16 void Block(const uint16_t* x, int64_t ldx, const uint16_t* packed,
                                   int64_t rows, int64_t n, int64_t k, int64_t p0, int np,
                                   float* y, int64_t ldy) {
  const int64_t kp_count = (k + 1) / 2;
  const int64_t panel_stride = kp_count * 2 * kBf16Panel;
  const uint16_t* w = packed + p0 * panel_stride;
  const int64_t cols = std::min<int64_t>(np * kBf16Panel, n - p0 * kBf16Panel);
  float* yb = y + p0 * kBf16Panel;
  for (int64_t kp0 = 0; kp0 < kp_count; kp0 += kKcPairs) {
    const int64_t kp1 = std::min(kp_count, kp0 + kKcPairs);
    if (cols <= kBf16Panel / 2) {
      RowsHalf(x, ldx, w, kp0, kp1, k, rows, cols, yb, ldy);
      continue;
    }
    switch (np) {
      case 4: Rows<4>(x, ldx, w, panel_stride, kp0, kp1, k, rows, cols, yb, ldy); break;
      case 3: Rows<3>(x, ldx, w, panel_stride, kp0, kp1, k, rows, cols, yb, ldy); break;
      case 2: Rows<2>(x, ldx, w, panel_stride, kp0, kp1, k, rows, cols, yb, ldy); break;
      default: Rows<1>(x, ldx, w, panel_stride, kp0, kp1, k, rows, cols, yb, ldy); break;
    }
  }
}

}  // namespace

bool CpuHasAvx512Bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
}

// Work items are (row block, panel group) pairs, each computed whole by one
// thread in a fixed order, so the result does not depend on the thread
// count. Dealt round-robin (static, 1): an expert's 64 tokens × 1024 outputs
// are 2 row blocks (48 + 16 rows) × 16 groups, which contiguous chunks would
// split 3:1 between two threads; round-robin gives each thread half of every
// row block's groups, and for one group (n ≤ 64) it interleaves row blocks.
void GemmBf16Avx512Bf16(const uint16_t* x, int64_t ldx, const uint16_t* packed, int64_t m,
                        int64_t n, int64_t k, float* y, int64_t ldy) {
  const int64_t panels = (n + kBf16Panel - 1) / kBf16Panel;
  const int64_t groups = (panels + kPanelsPerGroup - 1) / kPanelsPerGroup;
  const int64_t row_blocks = (m + kRowBlock - 1) / kRowBlock;
  const int64_t items = row_blocks * groups;
  const auto item = [&](int64_t i) {
    const int64_t r0 = i / groups * kRowBlock, p0 = i % groups * kPanelsPerGroup;
    const int np = static_cast<int>(std::min<int64_t>(kPanelsPerGroup, panels - p0));
    Block(x + r0 * ldx, ldx, packed, std::min(kRowBlock, m - r0), n, k, p0, np, y + r0 * ldy,
          ldy);
  };
  const int threads = SplitThreads(items > 1 && m * n * k > (int64_t{1} << 20));
  if (threads <= 1) {  // no OpenMP region for one thread: see ParallelFor
    for (int64_t i = 0; i < items; ++i) item(i);
    return;
  }
#pragma omp parallel for schedule(static, 1) num_threads(threads)
  for (int64_t i = 0; i < items; ++i) item(i);
}

}  // namespace usmoe

#endif  // USMOE_HAVE_AVX512BF16_GEMM
