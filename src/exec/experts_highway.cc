// The portable (Highway) backend: the gate GEMM kernel (Y = X·Wᵀ over
// packed 16-column panels) run per work item, with the activation fused
// right after each up-projection tile.
//
// Packing: for each FFN, W1 and W3 are cut into column blocks of kUpBlock
// rows of f, and each block packs [W1 block; W3 block] as one panel matrix,
// so one GEMM call yields both halves of a tile and SwiGLU runs on it while
// it is in cache. W2 is packed whole; its column blocks of kDownBlock are
// panel ranges of it.
//
// bf16 weights stay bf16, packed as k-pairs (PackBf16Pairs, the vdpbf16ps
// operand layout) in the same blocks: half the bytes to stream. Where the
// bf16 dot-product kernel is usable (src/gemm/gemm_bf16.h) the activations
// come in as bf16 and GemmBf16 runs (twice the f32 FMA rate); elsewhere f32
// activations meet the pairs widened exactly (PairsLogitsF32), the same
// products and sums as f32 weights.
//
// Exactness: the gate kernel accumulates every output element over k in the
// same order whatever the rows or columns of the call, so an element's value
// does not depend on the work item that computed it, hence not on the
// thread count either (GemmBf16 likewise).
#include <algorithm>
#include <cstring>
#include <vector>

#include "src/exec/experts_activation.h"
#include "src/exec/experts_impl.h"
#include "src/exec/experts_schedule.h"
#include "src/gate/logits.h"

namespace usmoe {
namespace {

// Columns of f per up-projection block: one GEMM call covers 2·128 = 256
// panel columns (W1 and W3 halves; 2 MiB of f32 weights at d = 2048), enough
// work per call to amortise re-reading its rows, and f/128 blocks per expert
// so that a single decoding token still gives every core several weight
// blocks to stream.
constexpr int64_t kUpBlock = 128;
// Columns of d per down-projection block, for the same reasons.
constexpr int64_t kDownBlock = 256;
// Rows per item: two 48-row super-blocks of the AVX-512 gate kernel; more
// rows per item would only lengthen the tail of the schedule.
constexpr int64_t kMaxRows = 96;

int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct PackedFfn {
  int64_t hidden = 0;
  std::vector<float> up;  // blocks of [W1 rows; W3 rows] panels (W1 only if not gated)
  std::vector<float> w2;  // d rows of f
  std::vector<uint16_t> up_b, w2_b;  // bf16 weights: the same as k-pairs
  int64_t up_block_stride = 0;  // elements between consecutive up blocks
};

// Element-type traits of the two packed layouts: f32 panels
// (PackGateWeight) and bf16 k-pairs (PackBf16Pairs).
struct F32Layout {
  using T = float;
  static std::vector<float>* Up(PackedFfn* p) { return &p->up; }
  static std::vector<float>* Down(PackedFfn* p) { return &p->w2; }
  static int64_t Size(int64_t n, int64_t d) { return PackedGateSize(n, d); }
  static void Pack(const float* w, int64_t n, int64_t d, float* out) { PackGateWeight(w, n, d, out); }
};
struct Bf16Layout {
  using T = uint16_t;
  static std::vector<uint16_t>* Up(PackedFfn* p) { return &p->up_b; }
  static std::vector<uint16_t>* Down(PackedFfn* p) { return &p->w2_b; }
  static int64_t Size(int64_t n, int64_t d) { return PackedBf16PairsSize(n, d); }
  static void Pack(const uint16_t* w, int64_t n, int64_t d, uint16_t* out) {
    PackBf16Pairs(w, n, d, out);
  }
};

// up (blocks of [W1 rows; W3 rows]) and w2 of one FFN in layout L.
template <class L>
void PackFfn(const typename L::T* w1, const typename L::T* w3, const typename L::T* w2, int64_t f,
             int64_t d, PackedFfn* p, std::vector<typename L::T>* up,
             std::vector<typename L::T>* down) {
  using T = typename L::T;
  p->hidden = f;
  const int64_t nb = (f + kUpBlock - 1) / kUpBlock;
  const int64_t halves = w3 ? 2 : 1;
  const int64_t full_rows = halves * RoundUp(std::min(kUpBlock, f), kGatePanel);
  p->up_block_stride = L::Size(full_rows, d);
  up->assign(static_cast<size_t>(nb * p->up_block_stride), T(0));
  std::vector<T> block(static_cast<size_t>(full_rows * d));
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t c0 = b * kUpBlock, cw = std::min(kUpBlock, f - c0);
    const int64_t pw = RoundUp(cw, kGatePanel);
    std::fill(block.begin(), block.end(), T(0));
    std::memcpy(block.data(), w1 + c0 * d, sizeof(T) * cw * d);
    if (w3) std::memcpy(block.data() + pw * d, w3 + c0 * d, sizeof(T) * cw * d);
    L::Pack(block.data(), halves * pw, d, up->data() + b * p->up_block_stride);
  }
  down->resize(static_cast<size_t>(L::Size(d, f)));
  L::Pack(w2, d, f, down->data());
}

class HighwayBackend final : public FfnBackend {
 public:
  HighwayBackend(const ExpertsShape& s, bool bf16, const void* w1, const void* w3,
                 const void* w2, const void* sw1, const void* sw3, const void* sw2)
      : shape_(s), bf16_(bf16) {
    const bool gated = s.activation == Activation::kSwiGLU;
    ffns_.resize(s.num_experts + s.num_shared);
    PackSet(0, s.num_experts, s.hidden, gated, bf16, w1, w3, w2);
    if (s.num_shared > 0) PackSet(s.num_experts, s.num_shared, s.shared_hidden, gated, bf16, sw1, sw3, sw2);
  }

  // bf16 activations exactly when the bf16 dot-product kernel runs.
  bool Bf16Activations() const override { return bf16_ && Bf16DotUsable(); }

  void Run(const FfnSegment* segs, int64_t count, int threads) const override {
    const int64_t d = shape_.dim;
    const bool gated = shape_.activation == Activation::kSwiGLU;
    const bool dot = Bf16Activations();  // else f32 activations
    // Per-thread tile: up items produce rows × 2·kUpBlock, down items
    // rows × kDownBlock; allocated before any item runs.
    const int64_t tile = kMaxRows * std::max<int64_t>(2 * RoundUp(kUpBlock, kGatePanel), kDownBlock);
    std::vector<float> tiles(static_cast<size_t>(threads * tile));

    StageShape up;
    up.num_blocks = [](const FfnSegment& s) { return (s.hidden + kUpBlock - 1) / kUpBlock; };
    up.cost = [d](const FfnSegment& s, int64_t b, int64_t rows) {
      return static_cast<double>(std::min(kUpBlock, s.hidden - b * kUpBlock)) * d * (rows + 4);
    };
    RunWorkItems(MakeWorkItems(segs, count, kMaxRows, up), threads,
                 [&](const WorkItem& it, int tid) {
                   const FfnSegment& s = segs[it.seg];
                   const PackedFfn& p = ffns_[s.ffn];
                   const int64_t c0 = it.block * kUpBlock, cw = std::min(kUpBlock, s.hidden - c0);
                   const int64_t pw = RoundUp(cw, kGatePanel), ncols = (gated ? 2 : 1) * pw;
                   const int64_t rows = it.r1 - it.r0;
                   float* t = tiles.data() + tid * tile;
                   if (dot) {
                     const uint16_t* x = static_cast<const uint16_t*>(s.x) + it.r0 * d;
                     GemmBf16(x, d, p.up_b.data() + it.block * p.up_block_stride, rows, ncols, d,
                              t, ncols);
                     uint16_t* h = static_cast<uint16_t*>(s.h) + it.r0 * s.hidden + c0;
                     ActivateBf16(shape_.activation, t, t + pw, ncols, rows, cw, h, s.hidden);
                     return;
                   }
                   const float* x = static_cast<const float*>(s.x) + it.r0 * d;
                   if (bf16_) {
                     PairsLogitsF32(x, p.up_b.data() + it.block * p.up_block_stride, rows, ncols,
                                    d, t);
                   } else {
                     GateLogitsF32(x, p.up.data() + it.block * p.up_block_stride, rows, ncols, d, t);
                   }
                   float* h = static_cast<float*>(s.h) + it.r0 * s.hidden + c0;
                   ActivateF32(shape_.activation, t, t + pw, ncols, rows, cw, h, s.hidden);
                 });

    StageShape down;
    down.num_blocks = [d](const FfnSegment&) { return (d + kDownBlock - 1) / kDownBlock; };
    down.cost = [d](const FfnSegment& s, int64_t b, int64_t rows) {
      return static_cast<double>(std::min(kDownBlock, d - b * kDownBlock)) * s.hidden * (rows + 4);
    };
    RunWorkItems(MakeWorkItems(segs, count, kMaxRows, down), threads,
                 [&](const WorkItem& it, int tid) {
                   const FfnSegment& s = segs[it.seg];
                   const PackedFfn& p = ffns_[s.ffn];
                   const int64_t c0 = it.block * kDownBlock, cw = std::min(kDownBlock, d - c0);
                   const int64_t rows = it.r1 - it.r0, f = s.hidden;
                   float* t = tiles.data() + tid * tile;
                   // Panel range [c0, c0 + cw) of W2 (c0 is a multiple of 16).
                   const int64_t pair_off = c0 * 2 * ((f + 1) / 2);
                   if (dot) {
                     const uint16_t* h = static_cast<const uint16_t*>(s.h) + it.r0 * f;
                     GemmBf16(h, f, p.w2_b.data() + pair_off, rows, cw, f, t, cw);
                   } else if (bf16_) {
                     const float* h = static_cast<const float*>(s.h) + it.r0 * f;
                     PairsLogitsF32(h, p.w2_b.data() + pair_off, rows, cw, f, t);
                   } else {
                     const float* h = static_cast<const float*>(s.h) + it.r0 * f;
                     GateLogitsF32(h, p.w2.data() + c0 * f, rows, cw, f, t);
                   }
                   for (int64_t r = 0; r < rows; ++r)
                     std::memcpy(s.out + (it.r0 + r) * d + c0, t + r * cw, sizeof(float) * cw);
                 });
  }

 private:
  void PackSet(int64_t first, int64_t count, int64_t f, bool gated, bool bf16, const void* w1,
               const void* w3, const void* w2) {
    if (bf16) {
      PackAll<Bf16Layout>(first, count, f, gated, w1, w3, w2);
    } else {
      PackAll<F32Layout>(first, count, f, gated, w1, w3, w2);
    }
  }

  template <class L>
  void PackAll(int64_t first, int64_t count, int64_t f, bool gated, const void* w1,
               const void* w3, const void* w2) {
    using T = typename L::T;
    const int64_t d = shape_.dim;
    const T* a = static_cast<const T*>(w1);
    const T* b = static_cast<const T*>(w3);
    const T* c = static_cast<const T*>(w2);
    for (int64_t e = 0; e < count; ++e) {
      PackedFfn& p = ffns_[first + e];
      PackFfn<L>(a + e * f * d, gated ? b + e * f * d : nullptr, c + e * d * f, f, d, &p,
                 L::Up(&p), L::Down(&p));
    }
  }

  ExpertsShape shape_;
  bool bf16_;
  std::vector<PackedFfn> ffns_;
};

}  // namespace

std::unique_ptr<FfnBackend> MakeHighwayBackend(const ExpertsShape& shape, bool bf16,
                                               const void* w1, const void* w3, const void* w2,
                                               const void* shared_w1, const void* shared_w3,
                                               const void* shared_w2) {
  return std::make_unique<HighwayBackend>(shape, bf16, w1, w3, w2, shared_w1, shared_w3,
                                          shared_w2);
}

}  // namespace usmoe
