// bf16 × bf16 GEMM with the AVX-512 BF16 dot-product instruction
// (vdpbf16ps): out = X·Wᵀ, X bf16 row-major, W packed as k-pairs
// (PackBf16Pairs), f32 accumulation.
//
// Why raw intrinsics: Highway 1.0.3 never emits vdpbf16ps, and each one does
// two multiply-adds per lane, so on this Zen 5 VM it doubles the f32 FMA
// rate. The functions carry their own target attribute; nothing else in the
// library is compiled for avx512bf16, and the path is taken only when the
// CPU has the feature and the dispatch currently allows AVX3 targets
// (usmoe_simd_set_targets can rule it out, as tests do).
//
// Tiles as in logits.cc: 6 rows × 4 panels of 16 outputs = 24 accumulators;
// per pair step 4 weight loads and 6 broadcasts feed 24 vdpbf16ps. k is
// blocked by 128 pairs so a tile's weights (32 KB) stay in L1 while the 8
// micro-tiles of a 48-row super-block reuse them.
#include "src/gate/logits.h"

#include <algorithm>
#include <cstring>

#include "hwy/targets.h"
#include "src/runtime/threads.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define USMOE_BF16DOT 1
#define USMOE_BF16DOT_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
#endif

namespace usmoe {

#ifdef USMOE_BF16DOT
namespace {

constexpr int kMR = 6;
constexpr int kNP = 4;
constexpr int64_t kKcPairs = 128;
constexpr int64_t kSuperRows = 8 * kMR;

// The pair (x[2i], x[2i+1]) of one row as the 32 bits vdpbf16ps broadcasts;
// the last pair of an odd d has only its low half.
inline uint32_t XPair(const uint16_t* row, int64_t i, int64_t d) {
  if (2 * i + 1 < d) {
    uint32_t v;
    std::memcpy(&v, row + 2 * i, sizeof(v));
    return v;
  }
  return row[2 * i];
}

// tile[r][0..16·NP) += x[r] · W over pairs [i0, i1) (zeroed when first).
template <int MR, int NP>
USMOE_BF16DOT_TARGET void DotTile(const uint16_t* x, int64_t d, const uint16_t* wp,
                                  int64_t panel_stride, int64_t i0, int64_t i1, bool first,
                                  float* tile, int64_t ld) {
  __m512 acc[MR][NP];
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p)
      acc[r][p] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(tile + r * ld + p * 16);
  const int64_t full = std::min(i1, d / 2);  // pairs with both halves in x
  int64_t i = i0;
  for (; i < full; ++i) {
    __m512i w[NP];
    for (int p = 0; p < NP; ++p)
      w[p] = _mm512_loadu_si512(wp + p * panel_stride + i * 2 * kGatePanel);
    for (int r = 0; r < MR; ++r) {
      uint32_t xv;
      std::memcpy(&xv, x + r * d + 2 * i, sizeof(xv));
      const __m512i xb = _mm512_set1_epi32(static_cast<int>(xv));
      for (int p = 0; p < NP; ++p)
        acc[r][p] = _mm512_dpbf16_ps(acc[r][p], (__m512bh)xb, (__m512bh)w[p]);
    }
  }
  for (; i < i1; ++i) {  // odd d: the last pair
    for (int r = 0; r < MR; ++r) {
      const __m512i xb = _mm512_set1_epi32(static_cast<int>(XPair(x + r * d, i, d)));
      for (int p = 0; p < NP; ++p) {
        const __m512i w = _mm512_loadu_si512(wp + p * panel_stride + i * 2 * kGatePanel);
        acc[r][p] = _mm512_dpbf16_ps(acc[r][p], (__m512bh)xb, (__m512bh)w);
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p) _mm512_storeu_ps(tile + r * ld + p * 16, acc[r][p]);
}

template <int MR>
USMOE_BF16DOT_TARGET void DotTileN(int np, const uint16_t* x, int64_t d, const uint16_t* wp,
                                   int64_t panel_stride, int64_t i0, int64_t i1, float* tile,
                                   int64_t ld) {
  const bool first = i0 == 0;
  switch (np) {
    case 4: return DotTile<MR, 4>(x, d, wp, panel_stride, i0, i1, first, tile, ld);
    case 3: return DotTile<MR, 3>(x, d, wp, panel_stride, i0, i1, first, tile, ld);
    case 2: return DotTile<MR, 2>(x, d, wp, panel_stride, i0, i1, first, tile, ld);
    default: return DotTile<MR, 1>(x, d, wp, panel_stride, i0, i1, first, tile, ld);
  }
}

USMOE_BF16DOT_TARGET void DotSuperBlock(const uint16_t* x, int64_t rows, int64_t d,
                                        const uint16_t* pairs, int64_t n, float* out) {
  alignas(64) float tile[kSuperRows * kNP * kGatePanel];
  const int64_t kp = (d + 1) / 2, panel_stride = kp * 2 * kGatePanel;
  const int64_t panels = (n + kGatePanel - 1) / kGatePanel;
  for (int64_t p = 0; p < panels;) {
    const int np = static_cast<int>(std::min<int64_t>(kNP, panels - p));
    const int64_t ld = np * kGatePanel;
    const uint16_t* wp = pairs + p * panel_stride;
    for (int64_t i0 = 0; i0 < kp; i0 += kKcPairs) {
      const int64_t i1 = std::min(kp, i0 + kKcPairs);
      int64_t r = 0;
      for (; r + kMR <= rows; r += kMR)
        DotTileN<kMR>(np, x + r * d, d, wp, panel_stride, i0, i1, tile + r * ld, ld);
      for (; r < rows; ++r) DotTileN<1>(np, x + r * d, d, wp, panel_stride, i0, i1, tile + r * ld, ld);
    }
    const int64_t col0 = p * kGatePanel, cols = std::min<int64_t>(ld, n - col0);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out + r * n + col0, tile + r * ld, sizeof(float) * cols);
    p += np;
  }
}

}  // namespace

bool Bf16DotUsable() {
  static const bool cpu = __builtin_cpu_supports("avx512bf16");
  if (!cpu) return false;
  // The best target the dispatch allows right now (lowest set bit).
  const int64_t t = static_cast<int64_t>(hwy::SupportedTargets()) & HWY_TARGETS;
  const int64_t best = t & -t;
  return best == HWY_AVX3 || best == HWY_AVX3_DL;
}

void PairsLogitsBf16Dot(const uint16_t* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                        int64_t d, float* out) {
  const int64_t blocks = (num_tokens + kSuperRows - 1) / kSuperRows;
#pragma omp parallel for schedule(static) num_threads(NumThreads()) if (num_tokens * n * d > (1 << 20))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t t0 = b * kSuperRows;
    DotSuperBlock(x + t0 * d, std::min(kSuperRows, num_tokens - t0), d, pairs, n, out + t0 * n);
  }
}

#else  // not x86 with GCC/Clang: never usable

bool Bf16DotUsable() { return false; }

void PairsLogitsBf16Dot(const uint16_t* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                        int64_t d, float* out) {
  PairsLogitsBf16(x, pairs, num_tokens, n, d, out);
}

#endif

}  // namespace usmoe
