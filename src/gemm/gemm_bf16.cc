// GemmBf16: the packing, the dispatch, and the portable path written once for
// every Highway target (HWY_SCALAR, SSE4, AVX2, AVX-512, NEON, SVE).
//
// Portable path: a packed k-pair of 16 rows is loaded as 32-bit lanes and
// widened exactly in registers (u32 << 16 is the even element, u32 &
// 0xFFFF0000 the odd one); X elements are widened one at a time and
// broadcast. Each product is FMA'd in k order, so the result is that of
// GateLogitsF32 on the widened inputs. Tiles and k-blocking follow the f32
// gate kernel (src/gate/logits.cc), with 2 panels per tile on 16-lane
// targets: even + odd W vectors of 4 panels would not fit the register file
// beside 24 accumulators (this path only runs on AVX-512 CPUs without
// avx512_bf16 there).
//
// On x86 the AVX3/AVX3_DL instantiations hand over to the vdpbf16ps kernel
// (src/gemm/gemm_bf16_avx512bf16.cc) when CPUID has avx512_bf16: a dispatch
// forced to AVX2 or below (tests, usmoe_simd_set_targets) gets this path.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/gemm/gemm_bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "src/gemm/gemm_bf16.h"
#include "src/gemm/gemm_bf16_avx512bf16.h"
#include "src/runtime/threads.h"

// A k-pair read as one 32-bit lane has its even element in the low half (the
// pair layout is fixed in memory; the widening shifts and vdpbf16ps's pair
// order both assume this byte order).
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GemmBf16 assumes a little-endian CPU"
#endif

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, kBf16Panel>;
using DU = hn::RebindToUnsigned<DF>;

HWY_INLINE float Widen(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// Even (k = 2·kp) and odd (k = 2·kp + 1) elements of the pairs loaded as u.
template <class V>
HWY_INLINE hn::Vec<DF> EvenOf(V u) {
  return hn::BitCast(DF(), hn::ShiftLeft<16>(u));
}
template <class V>
HWY_INLINE hn::Vec<DF> OddOf(V u) {
  return hn::BitCast(DF(), hn::And(u, hn::Set(DU(), 0xFFFF0000u)));
}

inline void CopyRows(const float* tile, int64_t ld, int64_t rows, int64_t cols, float* y,
                     int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * ldy, tile + r * ld, cols * sizeof(float));
}

#if !HWY_HAVE_SCALABLE
constexpr int kLanes = static_cast<int>(HWY_MIN(HWY_LANES(float), kBf16Panel));
constexpr int kVecPerPanel = static_cast<int>(kBf16Panel) / kLanes;
constexpr int kPanelsPerTile = kLanes >= 16 ? 2 : 1;
constexpr int kMR = kLanes >= 8 ? 6 : (HWY_ARCH_ARM ? 4 : kLanes == 4 ? 2 : 1);
constexpr int64_t kKcPairs = 128;
constexpr int64_t kRowBlock = 8 * kMR;

// tile[r][0 .. NP·16) (+)= x[r][2·kp0 .. 2·kp1) · W-panels (zeroed when kp0 = 0).
template <int MR, int NP>
HWY_INLINE void Tile(const uint16_t* HWY_RESTRICT x, int64_t ldx,
                     const uint32_t* HWY_RESTRICT w, int64_t panel_stride, int64_t kp0,
                     int64_t kp1, int64_t k, float* HWY_RESTRICT tile) {
  const DF df;
  const DU du;
  using V = hn::Vec<DF>;
  constexpr int NV = NP * kVecPerPanel;
  constexpr int64_t ld = NP * kBf16Panel;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = kp0 == 0 ? hn::Zero(df) : hn::LoadU(df, tile + r * ld + v * kLanes);
  auto w_at = [&](int64_t kp, int v) {
    return hn::LoadU(du, w + (v / kVecPerPanel) * panel_stride + kp * kBf16Panel +
                             (v % kVecPerPanel) * kLanes);
  };
  const int64_t full = std::min(kp1, k / 2);
  for (int64_t kp = kp0; kp < full; ++kp) {
    V we[NV], wo[NV];
    for (int v = 0; v < NV; ++v) {
      const auto u = w_at(kp, v);
      we[v] = EvenOf(u);
      wo[v] = OddOf(u);
    }
    for (int r = 0; r < MR; ++r) {
      const V b0 = hn::Set(df, Widen(x[r * ldx + 2 * kp]));
      const V b1 = hn::Set(df, Widen(x[r * ldx + 2 * kp + 1]));
      for (int v = 0; v < NV; ++v) {
        acc[r][v] = hn::MulAdd(b0, we[v], acc[r][v]);
        acc[r][v] = hn::MulAdd(b1, wo[v], acc[r][v]);
      }
    }
  }
  if (kp1 > full) {  // odd k: only the even element of the last pair exists
    for (int v = 0; v < NV; ++v) {
      const V we = EvenOf(w_at(full, v));
      for (int r = 0; r < MR; ++r)
        acc[r][v] = hn::MulAdd(hn::Set(df, Widen(x[r * ldx + 2 * full])), we, acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], df, tile + r * ld + v * kLanes);
}

template <int MR>
HWY_INLINE void TileN(int np, const uint16_t* x, int64_t ldx, const uint32_t* w,
                      int64_t panel_stride, int64_t kp0, int64_t kp1, int64_t k, float* tile) {
  if (kPanelsPerTile >= 2 && np == 2)
    return Tile<MR, (kPanelsPerTile >= 2 ? 2 : 1)>(x, ldx, w, panel_stride, kp0, kp1, k, tile);
  return Tile<MR, 1>(x, ldx, w, panel_stride, kp0, kp1, k, tile);
}

// Rows [0, rows ≤ kRowBlock) of x against every panel.
HWY_INLINE void RowBlock(const uint16_t* x, int64_t ldx, const uint32_t* packed, int64_t rows,
                         int64_t n, int64_t k, float* y, int64_t ldy) {
  HWY_ALIGN float tile[kRowBlock * kPanelsPerTile * kBf16Panel];
  const int64_t kp_count = (k + 1) / 2;
  const int64_t panel_stride = kp_count * kBf16Panel;  // in u32 pairs
  const int64_t panels = (n + kBf16Panel - 1) / kBf16Panel;
  for (int64_t p = 0; p < panels;) {
    const int np = static_cast<int>(std::min<int64_t>(kPanelsPerTile, panels - p));
    const int64_t ld = np * kBf16Panel;
    const uint32_t* w = packed + p * panel_stride;
    for (int64_t kp0 = 0; kp0 < kp_count; kp0 += kKcPairs) {
      const int64_t kp1 = std::min(kp_count, kp0 + kKcPairs);
      int64_t r = 0;
      for (; r + kMR <= rows; r += kMR)
        TileN<kMR>(np, x + r * ldx, ldx, w, panel_stride, kp0, kp1, k, tile + r * ld);
      for (; r < rows; ++r) TileN<1>(np, x + r * ldx, ldx, w, panel_stride, kp0, kp1, k, tile + r * ld);
    }
    const int64_t col0 = p * kBf16Panel;
    CopyRows(tile, ld, rows, std::min<int64_t>(ld, n - col0), y + col0, ldy);
    p += np;
  }
}
#else   // scalable vectors (SVE, RVV) cannot live in arrays: four named rows
constexpr int kMR = 4;
constexpr int64_t kRowBlock = kMR;

template <int MR>
HWY_INLINE void Rows(const uint16_t* x, int64_t ldx, const uint32_t* packed, int64_t n,
                     int64_t k, float* y, int64_t ldy) {
  const DF df;
  const DU du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t kp_count = (k + 1) / 2, full = k / 2;
  const int64_t panels = (n + kBf16Panel - 1) / kBf16Panel;
  const uint16_t* x0 = x;
  const uint16_t* x1 = x + (MR > 1 ? ldx : 0);
  const uint16_t* x2 = x + (MR > 2 ? 2 * ldx : 0);
  const uint16_t* x3 = x + (MR > 3 ? 3 * ldx : 0);
  HWY_ALIGN float tile[4 * kBf16Panel];
  for (int64_t p = 0; p < panels; ++p) {
    const uint32_t* w = packed + p * kp_count * kBf16Panel;
    for (int64_t v = 0; v < kBf16Panel; v += lanes) {
      auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (int64_t kp = 0; kp < kp_count; ++kp) {
        const auto u = hn::LoadU(du, w + kp * kBf16Panel + v);
        const auto we = EvenOf(u);
        a0 = hn::MulAdd(hn::Set(df, Widen(x0[2 * kp])), we, a0);
        if (MR > 1) a1 = hn::MulAdd(hn::Set(df, Widen(x1[2 * kp])), we, a1);
        if (MR > 2) a2 = hn::MulAdd(hn::Set(df, Widen(x2[2 * kp])), we, a2);
        if (MR > 3) a3 = hn::MulAdd(hn::Set(df, Widen(x3[2 * kp])), we, a3);
        if (kp == full) break;  // odd k: the last pair has no odd element
        const auto wo = OddOf(u);
        a0 = hn::MulAdd(hn::Set(df, Widen(x0[2 * kp + 1])), wo, a0);
        if (MR > 1) a1 = hn::MulAdd(hn::Set(df, Widen(x1[2 * kp + 1])), wo, a1);
        if (MR > 2) a2 = hn::MulAdd(hn::Set(df, Widen(x2[2 * kp + 1])), wo, a2);
        if (MR > 3) a3 = hn::MulAdd(hn::Set(df, Widen(x3[2 * kp + 1])), wo, a3);
      }
      hn::StoreU(a0, df, tile + v);
      if (MR > 1) hn::StoreU(a1, df, tile + kBf16Panel + v);
      if (MR > 2) hn::StoreU(a2, df, tile + 2 * kBf16Panel + v);
      if (MR > 3) hn::StoreU(a3, df, tile + 3 * kBf16Panel + v);
    }
    const int64_t col0 = p * kBf16Panel;
    CopyRows(tile, kBf16Panel, MR, std::min<int64_t>(kBf16Panel, n - col0), y + col0, ldy);
  }
}

HWY_INLINE void RowBlock(const uint16_t* x, int64_t ldx, const uint32_t* packed, int64_t rows,
                         int64_t n, int64_t k, float* y, int64_t ldy) {
  if (rows == kMR) return Rows<kMR>(x, ldx, packed, n, k, y, ldy);
  for (int64_t r = 0; r < rows; ++r) Rows<1>(x + r * ldx, ldx, packed, n, k, y + r * ldy, ldy);
}
#endif  // !HWY_HAVE_SCALABLE

#if USMOE_HAVE_AVX512BF16_GEMM && (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
HWY_INLINE bool UseAvx512Bf16() { return CpuHasAvx512Bf16(); }
#else
HWY_INLINE bool UseAvx512Bf16() { return false; }
#endif

int32_t GemmBf16PathOf() { return UseAvx512Bf16() ? 1 : 0; }

void GemmBf16(const uint16_t* HWY_RESTRICT x, int64_t ldx, const uint16_t* HWY_RESTRICT packed,
              int64_t m, int64_t n, int64_t k, float* HWY_RESTRICT y, int64_t ldy) {
#if USMOE_HAVE_AVX512BF16_GEMM && (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
  if (UseAvx512Bf16()) return GemmBf16Avx512Bf16(x, ldx, packed, m, n, k, y, ldy);
#endif
  // The packed pairs are read as 32-bit lanes whose low half is the even
  // element: the little-endian order checked at the top of this file.
  const uint32_t* w = reinterpret_cast<const uint32_t*>(packed);
  const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
  ParallelFor(SplitThreads(m * n * k > (int64_t{1} << 20)), blocks, false, [&](int64_t b, int) HWY_ATTR {
    const int64_t r0 = b * kRowBlock;
    RowBlock(x + r0 * ldx, ldx, w, std::min(kRowBlock, m - r0), n, k, y + r0 * ldy, ldy);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(GemmBf16);
HWY_EXPORT(GemmBf16PathOf);

int64_t PackedBf16PairsSize(int64_t n, int64_t k) {
  return (n + kBf16Panel - 1) / kBf16Panel * kBf16Panel * ((k + 1) / 2) * 2;
}

void PackBf16Pairs(const uint16_t* w, int64_t n, int64_t k, uint16_t* packed) {
  const int64_t panels = (n + kBf16Panel - 1) / kBf16Panel, kp_count = (k + 1) / 2;
  for (int64_t p = 0; p < panels; ++p) {
    uint16_t* dst = packed + p * kp_count * kBf16Panel * 2;
    for (int64_t kp = 0; kp < kp_count; ++kp) {
      for (int64_t j = 0; j < kBf16Panel; ++j) {
        const int64_t row = p * kBf16Panel + j;
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t col = 2 * kp + h;
          dst[(kp * kBf16Panel + j) * 2 + h] = row < n && col < k ? w[row * k + col] : 0;
        }
      }
    }
  }
}

void GemmBf16(const uint16_t* x, int64_t ldx, const uint16_t* packed, int64_t m, int64_t n,
              int64_t k, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(GemmBf16)(x, ldx, packed, m, n, k, y, ldy);
}

GemmBf16Path CurrentGemmBf16Path() {
  return HWY_DYNAMIC_DISPATCH(GemmBf16PathOf)() ? GemmBf16Path::kAvx512Bf16
                                               : GemmBf16Path::kPortable;
}
}  // namespace usmoe
#endif  // HWY_ONCE
