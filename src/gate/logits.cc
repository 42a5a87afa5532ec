// Gate GEMM, f32, written once for every Highway target.
//
// Broadcast formulation: a register tile of MR tokens × (1 or 2 panels of 16
// experts) accumulates over all of d; each k step loads the panel vectors
// once and broadcasts MR activations. Tile shapes keep accumulators + loaded
// vectors inside the register file and the FMA units, not the load ports,
// the bottleneck:
//   AVX-512 (32 regs, 16 lanes): 6 tokens × 4 panels = 24 accumulators,
//     4 loads + 6 broadcasts per 24 FMAs (8 tokens × 2 panels, 8 broadcasts
//     per 16 FMAs, measured 110 GFLOP/s: broadcasts compete with the FMAs).
//   AVX2/NEON-class (16/32 regs, 8/4 lanes): 6 or 4 tokens × 1 panel.
// d is blocked by 256 so a tile's W slice stays in L1 while a super-block of
// 8·MR tokens reuses it; partial sums live in a small tile buffer.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/gate/logits.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "src/gate/logits.h"
#include "src/runtime/threads.h"
#include "src/simd/transpose16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using PanelTag = hn::CappedTag<float, kGatePanel>;

HWY_INLINE float Act(const float* p) { return *p; }

// Views of packed weights. Panel(p) is the view of panel p; Load(d, k, off)
// the vector at lane offset `off` of the panel's row for input k, as f32.
// f32 panels; or bf16 k-pairs (the layout of PackBf16Pairs), widened exactly
// on load: half the bytes to stream, the same products and sums.
struct F32Panels {
  const float* w;
  int64_t d;
  F32Panels Panel(int64_t p) const { return {w + p * d * kGatePanel, d}; }
  HWY_INLINE hn::Vec<PanelTag> Load(PanelTag dc, int64_t k, int64_t off) const {
    return hn::LoadU(dc, w + k * kGatePanel + off);
  }
};
struct Bf16Pairs {
  const uint16_t* w;
  int64_t kp;  // pairs per panel row: ceil(d / 2)
  Bf16Pairs Panel(int64_t p) const { return {w + p * kp * 2 * kGatePanel, kp}; }
  HWY_INLINE hn::Vec<PanelTag> Load(PanelTag dc, int64_t k, int64_t off) const {
    const hn::RebindToUnsigned<PanelTag> du;
    // Lane j holds (W[j][2i], W[j][2i+1]) as the low and high halves.
    const auto pair = hn::LoadU(du, reinterpret_cast<const uint32_t*>(w) + (k >> 1) * kGatePanel + off);
    const auto bits = (k & 1) ? hn::And(pair, hn::Set(du, 0xFFFF0000u)) : hn::ShiftLeft<16>(pair);
    return hn::BitCast(dc, bits);
  }
};

// Writes the first `cols` columns of a rows×ld tile into L.
HWY_INLINE void CopyTile(const float* tile, int64_t ld, int64_t rows, int64_t cols, float* L,
                         int64_t ldl) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(L + r * ldl, tile + r * ld, cols * sizeof(float));
}

#if !HWY_HAVE_SCALABLE
constexpr int kLanes = static_cast<int>(HWY_MIN(HWY_LANES(float), kGatePanel));
constexpr int kVecPerPanel = static_cast<int>(kGatePanel) / kLanes;
constexpr int kPanelsPerTile = kLanes >= 16 ? 4 : 1;
constexpr int kMR = kLanes >= 16 ? 6 : kLanes == 8 ? 6 : (HWY_ARCH_ARM ? 4 : kLanes == 4 ? 2 : 1);
// k-block: a tile's W slice (up to 4 panels × 256 × 64 B = 64 KiB) stays in L1/L2
// while every micro-row of the super-block reuses it.
constexpr int64_t kKc = 256;
constexpr int64_t kSuperRows = 8 * kMR;

// tile[r][v] += x[r][k0..k1) · W-panels[k0..k1) (tile zeroed when first).
template <int MR, int NP, typename TX, typename TW>
HWY_INLINE void Tile(const TX* HWY_RESTRICT x, int64_t d, const TW& wp,
                     int64_t k0, int64_t k1, bool first, float* HWY_RESTRICT tile) {
  const PanelTag dc;
  using V = hn::Vec<PanelTag>;
  constexpr int NV = NP * kVecPerPanel;
  constexpr int64_t ld = NP * kGatePanel;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = first ? hn::Zero(dc) : hn::LoadU(dc, tile + r * ld + v * kLanes);
  TW panel[NP];
  for (int p = 0; p < NP; ++p) panel[p] = wp.Panel(p);
  for (int64_t k = k0; k < k1; ++k) {
    V w[NV];
    for (int p = 0; p < NP; ++p)
      for (int v = 0; v < kVecPerPanel; ++v)
        w[p * kVecPerPanel + v] = panel[p].Load(dc, k, v * kLanes);
    for (int r = 0; r < MR; ++r) {
      const V b = hn::Set(dc, Act(x + r * d + k));
      for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(b, w[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], dc, tile + r * ld + v * kLanes);
}

template <int MR, typename TX, typename TW>
HWY_INLINE void TileN(int np, const TX* x, int64_t d, const TW& wp, int64_t k0,
                      int64_t k1, float* tile) {
  const bool first = k0 == 0;
  switch (kPanelsPerTile >= 4 ? np : 1) {
    case 4: return Tile<MR, (kPanelsPerTile >= 4 ? 4 : 1)>(x, d, wp, k0, k1, first, tile);
    case 3: return Tile<MR, (kPanelsPerTile >= 4 ? 3 : 1)>(x, d, wp, k0, k1, first, tile);
    case 2: return Tile<MR, (kPanelsPerTile >= 4 ? 2 : 1)>(x, d, wp, k0, k1, first, tile);
    default: return Tile<MR, 1>(x, d, wp, k0, k1, first, tile);
  }
}

// Rows [0, rows) of x (rows <= kSuperRows) against panels [p0, p1).
template <typename TX, typename TW>
HWY_INLINE void SuperBlock(const TX* x, int64_t rows, int64_t d, const TW& packed,
                           int64_t p0, int64_t p1, int64_t N, float* L) {
  HWY_ALIGN float tile[kSuperRows * kPanelsPerTile * kGatePanel];
  for (int64_t p = p0; p < p1;) {
    const int np = static_cast<int>(std::min<int64_t>(kPanelsPerTile, p1 - p));
    const int64_t ld = np * kGatePanel;
    const TW wp = packed.Panel(p);
    for (int64_t k0 = 0; k0 < d; k0 += kKc) {
      const int64_t k1 = std::min(d, k0 + kKc);
      int64_t r = 0;
      for (; r + kMR <= rows; r += kMR) TileN<kMR>(np, x + r * d, d, wp, k0, k1, tile + r * ld);
      // The last rows (all of a decode step's few tokens) in one tile of
      // their count: a 1-row tile streams the W slice for each row, and its
      // few FMA chains wait on their own latency (route 4x64x2048, 1 thread:
      // 17.4 us by single rows, 7.0 us as one tile).
      static_assert(kMR <= 6, "the remainder switch covers up to 5 rows");
      switch (rows - r) {
        case 5: TileN<(kMR > 5 ? 5 : 1)>(np, x + r * d, d, wp, k0, k1, tile + r * ld); break;
        case 4: TileN<(kMR > 4 ? 4 : 1)>(np, x + r * d, d, wp, k0, k1, tile + r * ld); break;
        case 3: TileN<(kMR > 3 ? 3 : 1)>(np, x + r * d, d, wp, k0, k1, tile + r * ld); break;
        case 2: TileN<(kMR > 2 ? 2 : 1)>(np, x + r * d, d, wp, k0, k1, tile + r * ld); break;
        case 1: TileN<1>(np, x + r * d, d, wp, k0, k1, tile + r * ld); break;
        default: break;
      }
    }
    const int64_t col0 = p * kGatePanel;
    CopyTile(tile, ld, rows, std::min<int64_t>(ld, N - col0), L + col0, N);
    p += np;
  }
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// N <= 8 on AVX-512. A 16-expert panel vector would be half padding, and the
// broadcast tile above keeps only 6 FMA chains in flight (2 FMA pipes of
// 4-cycle latency want 8): 40 GFLOP/s where oneDNN reaches 80. Here a vector
// holds G tokens × 16/G experts, lane l = (token l % G, expert l / G): G = 2
// for N <= 8, 4 for N <= 4. Each k step broadcasts the G tokens' x[k] (8
// bytes or 16) against W[·][k] with every expert repeated G times (one
// permute per k, shared by the 8 accumulators: 8·G tokens a tile). The G
// rows are interleaved into a small buffer first, 2 shuffles per 16 values.
// Each logit is still one FMA chain over k = 0, 1, ... from zero, as in
// Tile, so the bits equal every other FMA target's. (Lanes = 16 tokens over
// a 16×16 register transpose of X measured 64 GFLOP/s: as many shuffles as
// FMAs.)
using I32Tag = hn::ScalableTag<int32_t>;

HWY_INLINE hn::Vec<hn::ScalableTag<float>> LoadChunk(const float* p, size_t n) {
  const hn::ScalableTag<float> df;
  return n >= 16 ? hn::LoadU(df, p) : hn::MaskedLoad(hn::FirstN(df, n), df, p);
}

// Where x[row g·G + i][k] lands in a chunk's interleaved buffer (i = 0
// there; the G values of the group follow): k = 4b + j is block b of the
// shuffled vectors.
template <int G>
constexpr int64_t GroupOffset(int64_t k, int64_t g) {
  return G == 2 ? g * 32 + ((k & 2) << 3) + (k & 12) + ((k & 1) << 1)
                : g * 64 + ((k & 3) << 4) + (k & 12);
}

// x[·][k0, k0 + n) of the tile's rows (n <= 16), interleaved by G rows.
template <int G>
HWY_INLINE void InterleaveChunk(const float* const* row, int64_t k0, int64_t n, float* buf) {
  const hn::ScalableTag<float> df;
  const size_t m = static_cast<size_t>(n);
  for (int g = 0; g < 8; ++g) {
    float* out = buf + g * 16 * G;
    if (G == 2) {
      const auto a = LoadChunk(row[2 * g] + k0, m);
      const auto b = LoadChunk(row[2 * g + 1] + k0, m);
      hn::Store(hn::InterleaveLower(df, a, b), df, out);
      hn::Store(hn::InterleaveUpper(df, a, b), df, out + 16);
    } else {
      const I32Tag di;
      hn::Vec<I32Tag> r[4], u[4];
      for (int i = 0; i < 4; ++i) r[i] = hn::BitCast(di, LoadChunk(row[4 * g + i] + k0, m));
      Transpose4x4InBlocks<4>(r, u);
      for (int j = 0; j < 4; ++j) hn::Store(hn::BitCast(df, u[j]), df, out + 16 * j);
    }
  }
}

// 8 accumulators × G tokens: rows [0, rows) (rows <= 8·G) of x against the
// one panel w, into L (N <= 16 / G columns).
template <int G>
HWY_INLINE void GroupedTile(const float* HWY_RESTRICT x, int64_t rows, int64_t d,
                            const float* HWY_RESTRICT w, int64_t N, float* HWY_RESTRICT L) {
  constexpr int kTok = 8 * G;
  const hn::ScalableTag<float> df;
  const hn::Repartition<double, decltype(df)> d64;
  using V = hn::Vec<decltype(df)>;
  // Rows past the block repeat its last row: computed, never stored.
  const float* row[kTok];
  for (int64_t i = 0; i < kTok; ++i) row[i] = x + std::min<int64_t>(i, rows - 1) * d;
  HWY_ALIGN static constexpr int32_t kDup2[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};
  HWY_ALIGN static constexpr int32_t kDup4[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
  const auto dup = hn::SetTableIndices(df, G == 2 ? kDup2 : kDup4);
  // Chunks of 16 k, two buffers: chunk i is computed from one while chunk
  // i + 1 is written to the other, so the broadcasts never wait on stores
  // just made. (Rounds of 32 or 64 k measured no faster in L2 and slower
  // from DRAM: the loads of X then come in bursts.)
  HWY_ALIGN float buf[2][16 * kTok];
  V acc[8];
  for (int g = 0; g < 8; ++g) acc[g] = hn::Zero(df);
  auto step = [&](const float* b, int64_t k, int64_t j) HWY_ATTR {
    const V wk = hn::TableLookupLanes(hn::LoadU(df, w + k * kGatePanel), dup);
    for (int g = 0; g < 8; ++g) {
      const float* p = b + GroupOffset<G>(j, g);
      const V xg = G == 2 ? hn::BitCast(df, hn::Set(d64, *reinterpret_cast<const double*>(p)))
                          : hn::LoadDup128(df, p);
      acc[g] = hn::MulAdd(xg, wk, acc[g]);
    }
  };
  InterleaveChunk<G>(row, 0, std::min<int64_t>(16, d), buf[0]);
  for (int64_t k0 = 0, r = 0; k0 < d; k0 += 16, r ^= 1) {
    if (k0 + 16 < d) InterleaveChunk<G>(row, k0 + 16, std::min<int64_t>(16, d - k0 - 16), buf[r ^ 1]);
    if (k0 + 16 <= d) {
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) step(buf[r], k0 + j, j);
    } else {
      for (int64_t j = 0; k0 + j < d; ++j) step(buf[r], k0 + j, j);
    }
  }
  HWY_ALIGN float out[8 * 16];
  for (int g = 0; g < 8; ++g) hn::Store(acc[g], df, out + g * 16);
  for (int g = 0; g < 8; ++g)
    for (int t = 0; t < G && g * G + t < rows; ++t)
      for (int64_t e = 0; e < N; ++e) L[(g * G + t) * N + e] = out[g * 16 + e * G + t];
}

template <int G>
void GroupedLogits(const float* HWY_RESTRICT x, const float* HWY_RESTRICT w, int64_t T,
                   int64_t N, int64_t d, float* HWY_RESTRICT L) {
  constexpr int64_t kTok = 8 * G;
  const int64_t tiles = (T + kTok - 1) / kTok;
  ParallelFor(SplitThreads(T * N * d > (1 << 20)), tiles, false, [&](int64_t b, int) HWY_ATTR {
    const int64_t t0 = b * kTok;
    GroupedTile<G>(x + t0 * d, std::min(kTok, T - t0), d, w, N, L + t0 * N);
  });
}

// f32 panels with N <= 8 take the grouped tiles; returns false otherwise.
HWY_INLINE bool TrySmallN(const float* x, const F32Panels& packed, int64_t T, int64_t N,
                          int64_t d, float* L) {
  if (N > 8) return false;
  if (N <= 4) {
    GroupedLogits<4>(x, packed.w, T, N, d, L);
  } else {
    GroupedLogits<2>(x, packed.w, T, N, d, L);
  }
  return true;
}
#endif
template <typename TX, typename TW>
HWY_INLINE bool TrySmallN(const TX*, const TW&, int64_t, int64_t, int64_t, float*) {
  return false;
}

template <typename TX, typename TW>
void GateLogits(const TX* HWY_RESTRICT x, const TW& packed, int64_t T,
                int64_t N, int64_t d, float* HWY_RESTRICT L) {
  if (TrySmallN(x, packed, T, N, d, L)) return;
  const int64_t panels = (N + kGatePanel - 1) / kGatePanel;
  const int64_t blocks = (T + kSuperRows - 1) / kSuperRows;
  ParallelFor(SplitThreads(T * N * d > (1 << 20)), blocks, false, [&](int64_t b, int) HWY_ATTR {
    const int64_t t0 = b * kSuperRows;
    SuperBlock(x + t0 * d, std::min(kSuperRows, T - t0), d, packed, 0, panels, N, L + t0 * N);
  });
}
#else   // scalable vectors (SVE, RVV) cannot live in arrays: four named rows
constexpr int kMR = 4;

template <int MR, typename TX, typename TW>
HWY_INLINE void RowBlock(const TX* x, int64_t rows, int64_t d, const TW& packed,
                         int64_t p0, int64_t p1, int64_t N, float* L) {
  const PanelTag dc;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(dc));
  HWY_ALIGN float tile[4 * kGatePanel];
  for (int64_t p = p0; p < p1; ++p) {
    const TW wp = packed.Panel(p);
    for (int64_t v = 0; v < kGatePanel; v += lanes) {
      auto a0 = hn::Zero(dc), a1 = hn::Zero(dc), a2 = hn::Zero(dc), a3 = hn::Zero(dc);
      for (int64_t k = 0; k < d; ++k) {
        const auto w = wp.Load(dc, k, v);
        a0 = hn::MulAdd(hn::Set(dc, Act(x + k)), w, a0);
        if (MR > 1) a1 = hn::MulAdd(hn::Set(dc, Act(x + d + k)), w, a1);
        if (MR > 2) a2 = hn::MulAdd(hn::Set(dc, Act(x + 2 * d + k)), w, a2);
        if (MR > 3) a3 = hn::MulAdd(hn::Set(dc, Act(x + 3 * d + k)), w, a3);
      }
      hn::StoreU(a0, dc, tile + v);
      if (MR > 1) hn::StoreU(a1, dc, tile + kGatePanel + v);
      if (MR > 2) hn::StoreU(a2, dc, tile + 2 * kGatePanel + v);
      if (MR > 3) hn::StoreU(a3, dc, tile + 3 * kGatePanel + v);
    }
    const int64_t col0 = p * kGatePanel;
    CopyTile(tile, kGatePanel, rows, std::min<int64_t>(kGatePanel, N - col0), L + col0, N);
  }
}

template <typename TX, typename TW>
void GateLogits(const TX* HWY_RESTRICT x, const TW& packed, int64_t T,
                int64_t N, int64_t d, float* HWY_RESTRICT L) {
  const int64_t panels = (N + kGatePanel - 1) / kGatePanel;
  const int64_t row_blocks = (T + kMR - 1) / kMR;
  ParallelFor(SplitThreads(T * N * d > (1 << 20)), row_blocks, false, [&](int64_t b, int) HWY_ATTR {
    const int64_t t0 = b * kMR;
    if (t0 + kMR <= T) {
      RowBlock<kMR>(x + t0 * d, kMR, d, packed, 0, panels, N, L + t0 * N);
    } else {
      for (int64_t t = t0; t < T; ++t) RowBlock<1>(x + t * d, 1, d, packed, 0, panels, N, L + t * N);
    }
  });
}
#endif  // !HWY_HAVE_SCALABLE

void GateLogitsF32(const float* HWY_RESTRICT x, const float* HWY_RESTRICT packed, int64_t T,
                   int64_t N, int64_t d, float* HWY_RESTRICT L) {
  GateLogits(x, F32Panels{packed, d}, T, N, d, L);
}

void PairsLogitsF32(const float* HWY_RESTRICT x, const uint16_t* HWY_RESTRICT pairs, int64_t T,
                    int64_t N, int64_t d, float* HWY_RESTRICT L) {
  GateLogits(x, Bf16Pairs{pairs, (d + 1) / 2}, T, N, d, L);
}


// bf16 -> f32 is exact (a bf16 is the upper half of an f32): a widening
// shift per lane. The element-wise memcpy loop it replaces did not
// vectorise and made bf16 routing 3x slower than f32.
void Bf16ToF32(const uint16_t* HWY_RESTRICT in, int64_t n, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::bfloat16_t, decltype(df)> dbf;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto* src = reinterpret_cast<const hwy::bfloat16_t*>(in);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dbf, src + i)), df, out + i);
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(in[i]) << 16;
    std::memcpy(out + i, &bits, sizeof(bits));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(GateLogitsF32);
HWY_EXPORT(PairsLogitsF32);
HWY_EXPORT(Bf16ToF32);

int64_t PackedGateSize(int64_t num_experts, int64_t dim) {
  return (num_experts + kGatePanel - 1) / kGatePanel * kGatePanel * dim;
}

namespace {
template <typename T>
void PackPanels(const T* w, int64_t N, int64_t d, T* packed) {
  const int64_t panels = (N + kGatePanel - 1) / kGatePanel;
  for (int64_t p = 0; p < panels; ++p) {
    T* dst = packed + p * d * kGatePanel;
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t j = 0; j < kGatePanel; ++j) {
        const int64_t e = p * kGatePanel + j;
        dst[k * kGatePanel + j] = e < N ? w[e * d + k] : T(0);
      }
    }
  }
}
}  // namespace

void PackGateWeight(const float* w, int64_t N, int64_t d, float* packed) {
  PackPanels(w, N, d, packed);
}

void PairsLogitsF32(const float* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                    int64_t d, float* out) {
  HWY_DYNAMIC_DISPATCH(PairsLogitsF32)(x, pairs, num_tokens, n, d, out);
}

void GateLogitsF32(const float* x, const float* packed, int64_t num_tokens, int64_t num_experts,
                   int64_t dim, float* logits) {
  HWY_DYNAMIC_DISPATCH(GateLogitsF32)(x, packed, num_tokens, num_experts, dim, logits);
}

void Bf16ToF32(const uint16_t* in, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(Bf16ToF32)(in, n, out);
}
}  // namespace usmoe
#endif  // HWY_ONCE
