// The oneDNN backend: one dnnl::matmul per work item (segment rows ×
// column block), weights pre-reordered into the blocked layout oneDNN picks.
//
// Shapes: W1/W3 are cut into column blocks of kUpBlock rows of f, each
// packed as one K=d × N=2·cw matrix [W1 block | W3 block] (one GEMM gives
// both halves; SwiGLU runs on the tile right after); W2 into column blocks
// of kDownBlock rows of d. Column blocks let decoding spread an expert's weights over
// every core; the dynamic schedule balances uneven experts.
//
// Primitives: oneDNN 2.6 with a runtime M falls back to gemm:jit (15-60 %
// slower, notes/toolchain.md), so every distinct M gets its own primitive,
// kept in a bounded LRU cache keyed on (M, K, N, dtype). Rows
// are cut into blocks of at most kMaxRows, so M ≤ kMaxRows and the cache
// holds at most kMaxRows · (shapes) entries for any batch size.
//
// Determinism: every matmul runs on the thread that calls it (the work
// items set the OpenMP thread count to 1 inside, so oneDNN neither spawns
// threads nor plans a split-K reduction), primitives are created under that
// same single-thread setting, and the blocking of items is fixed by the
// shape, not by the thread count.
#include "src/exec/experts_onednn.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "src/exec/experts_activation.h"
#include "src/exec/experts_schedule.h"

namespace usmoe {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

constexpr int64_t kUpBlock = 256;    // columns of f per up block
constexpr int64_t kDownBlock = 256;  // columns of d per down block
constexpr int64_t kMaxRows = 256;    // rows per matmul (bounds distinct M)
constexpr size_t kCacheCapacity = 1024;

struct Key {
  int64_t m, k, n;
  int32_t dtype;
  bool operator==(const Key& o) const {
    return std::tie(m, k, n, dtype) == std::tie(o.m, o.k, o.n, o.dtype);
  }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = std::hash<int64_t>()(k.m);
    for (int64_t v : {k.k, k.n, static_cast<int64_t>(k.dtype)})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

struct Primitive {
  dnnl::matmul matmul;
  size_t scratchpad_bytes = 0;
};

// Bounded, thread-safe LRU cache of matmul primitives. Creation happens
// outside the lock (0.3-0.7 ms each); a racing duplicate is dropped.
class PrimitiveCache {
 public:
  std::shared_ptr<const Primitive> Get(const Key& key, const dnnl::memory::desc& wei,
                                       const dnnl::engine& eng) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second.second);
        return it->second.first;
      }
    }
    auto p = std::make_shared<Primitive>();
    const dt src_dt = key.dtype ? dt::bf16 : dt::f32;
    dnnl::memory::desc src({key.m, key.k}, src_dt, tag::ab);
    dnnl::memory::desc dst({key.m, key.n}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, eng);
    p->matmul = dnnl::matmul(pd);
    p->scratchpad_bytes = pd.scratchpad_desc().get_size();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second.first;
    lru_.push_front(key);
    map_.emplace(key, std::make_pair(std::shared_ptr<const Primitive>(p), lru_.begin()));
    if (map_.size() > kCacheCapacity) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
    return p;
  }

 private:
  std::mutex mu_;
  std::list<Key> lru_;
  std::unordered_map<Key, std::pair<std::shared_ptr<const Primitive>, std::list<Key>::iterator>,
                     KeyHash>
      map_;
};

// A weight matrix (K × N) in oneDNN's blocked layout.
struct BlockedWeights {
  dnnl::memory mem;
  int64_t k = 0, n = 0;
};

struct OneDnnFfn {
  int64_t hidden = 0;
  std::vector<BlockedWeights> up, down;  // per column block
};

class OneDnnBackend final : public FfnBackend {
 public:
  OneDnnBackend(const ExpertsShape& s, bool bf16, const void* w1, const void* w3,
                const void* w2, const void* sw1, const void* sw3, const void* sw2)
      : shape_(s), bf16_(bf16), eng_(dnnl::engine::kind::cpu, 0) {
    ffns_.resize(s.num_experts + s.num_shared);
    PackSet(0, s.num_experts, s.hidden, w1, w3, w2);
    if (s.num_shared > 0) PackSet(s.num_experts, s.num_shared, s.shared_hidden, sw1, sw3, sw2);
  }

  bool Bf16Activations() const override { return bf16_; }

  void Run(const FfnSegment* segs, int64_t count, int threads) const override {
    const int64_t d = shape_.dim;
    const bool gated = shape_.activation == Activation::kSwiGLU;
    const size_t act = bf16_ ? 2 : 4;
    const int64_t tile = kMaxRows * std::max((gated ? 2 : 1) * kUpBlock, kDownBlock);
    std::vector<float> tiles(static_cast<size_t>(threads * tile));

    StageShape up;
    up.num_blocks = [](const FfnSegment& s) { return (s.hidden + kUpBlock - 1) / kUpBlock; };
    up.cost = [d](const FfnSegment& s, int64_t b, int64_t rows) {
      return static_cast<double>(std::min(kUpBlock, s.hidden - b * kUpBlock)) * d * (rows + 4);
    };
    RunWorkItems(MakeWorkItems(segs, count, kMaxRows, up), threads,
                 [&](const WorkItem& it, int tid) {
                   const FfnSegment& s = segs[it.seg];
                   const BlockedWeights& w = ffns_[s.ffn].up[it.block];
                   const int64_t c0 = it.block * kUpBlock, cw = std::min(kUpBlock, s.hidden - c0);
                   const int64_t rows = it.r1 - it.r0;
                   float* t = tiles.data() + tid * tile;
                   const uint8_t* x = static_cast<const uint8_t*>(s.x) + it.r0 * d * act;
                   Matmul(x, rows, w, t);
                   uint8_t* h = static_cast<uint8_t*>(s.h) + (it.r0 * s.hidden + c0) * act;
                   if (bf16_) {
                     ActivateBf16(shape_.activation, t, t + cw, w.n, rows, cw,
                                  reinterpret_cast<uint16_t*>(h), s.hidden);
                   } else {
                     ActivateF32(shape_.activation, t, t + cw, w.n, rows, cw,
                                 reinterpret_cast<float*>(h), s.hidden);
                   }
                 });

    StageShape down;
    down.num_blocks = [d](const FfnSegment&) { return (d + kDownBlock - 1) / kDownBlock; };
    down.cost = [d](const FfnSegment& s, int64_t b, int64_t rows) {
      return static_cast<double>(std::min(kDownBlock, d - b * kDownBlock)) * s.hidden * (rows + 4);
    };
    RunWorkItems(MakeWorkItems(segs, count, kMaxRows, down), threads,
                 [&](const WorkItem& it, int tid) {
                   const FfnSegment& s = segs[it.seg];
                   const BlockedWeights& w = ffns_[s.ffn].down[it.block];
                   const int64_t rows = it.r1 - it.r0, c0 = it.block * kDownBlock;
                   const uint8_t* h = static_cast<const uint8_t*>(s.h) + it.r0 * s.hidden * act;
                   // A dense tile, then a copy: oneDNN 2.6's brgemm matmul
                   // rejects a dst row stride other than N (it falls back to
                   // the reference kernel, 100x slower).
                   float* t = tiles.data() + tid * tile;
                   Matmul(h, rows, w, t);
                   for (int64_t r = 0; r < rows; ++r)
                     std::memcpy(s.out + (it.r0 + r) * d + c0, t + r * w.n, sizeof(float) * w.n);
                 });
  }

 private:
  // dst (rows × w.n, dense, f32) = src (rows × w.k) · w.
  void Matmul(const void* src, int64_t rows, const BlockedWeights& w, float* dst) const {
    // Scratchpads are per OpenMP thread and kept across calls.
    static thread_local std::vector<uint8_t> scratch;
    const Key key{rows, w.k, w.n, bf16_ ? 1 : 0};
    const std::shared_ptr<const Primitive> p = cache_.Get(key, w.mem.get_desc(), eng_);
    if (scratch.size() < p->scratchpad_bytes) scratch.resize(p->scratchpad_bytes);
    dnnl::memory src_m({{rows, w.k}, bf16_ ? dt::bf16 : dt::f32, tag::ab}, eng_,
                       const_cast<void*>(src));
    dnnl::memory dst_m({{rows, w.n}, dt::f32, tag::ab}, eng_, dst);
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, w.mem}, {DNNL_ARG_DST, dst_m}};
    if (p->scratchpad_bytes > 0)
      args.emplace(DNNL_ARG_SCRATCHPAD,
                   dnnl::memory({{static_cast<int64_t>(p->scratchpad_bytes)}, dt::u8, tag::a},
                                eng_, scratch.data()));
    dnnl::stream strm(eng_);
    p->matmul.execute(strm, args);
    strm.wait();
  }

  // Reorders `user` (K × N given as N rows of K, i.e. format ba) into the
  // blocked layout a matmul of this K, N prefers.
  BlockedWeights Block(const void* user, int64_t k, int64_t n) const {
    const dt wdt = bf16_ ? dt::bf16 : dt::f32;
    dnnl::memory::desc user_md({k, n}, wdt, tag::ba);
    // The layout is chosen for a mid-size M; every M's primitive is then
    // created against this same layout (the brgemm kernels' weight blocking
    // depends on K, N and the data type, not on M).
    dnnl::memory::desc src({kRefRows, k}, wdt, tag::ab);
    dnnl::memory::desc any({k, n}, wdt, tag::any);
    dnnl::memory::desc dst({kRefRows, n}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), eng_);
    BlockedWeights w;
    w.k = k;
    w.n = n;
    w.mem = dnnl::memory(pd.weights_desc(), eng_);
    dnnl::memory user_m(user_md, eng_, const_cast<void*>(user));
    dnnl::stream strm(eng_);
    dnnl::reorder(user_m, w.mem).execute(strm, user_m, w.mem);
    strm.wait();
    return w;
  }

  void PackSet(int64_t first, int64_t count, int64_t f, const void* w1, const void* w3,
               const void* w2) {
    const int64_t d = shape_.dim;
    const size_t es = bf16_ ? 2 : 4;
    const bool gated = w3 != nullptr;
    std::vector<uint8_t> block(static_cast<size_t>((gated ? 2 : 1) * std::min(kUpBlock, f) * d) * es);
    for (int64_t e = 0; e < count; ++e) {
      OneDnnFfn& p = ffns_[first + e];
      p.hidden = f;
      const uint8_t* a = static_cast<const uint8_t*>(w1) + e * f * d * es;
      const uint8_t* b = gated ? static_cast<const uint8_t*>(w3) + e * f * d * es : nullptr;
      const uint8_t* c = static_cast<const uint8_t*>(w2) + e * d * f * es;
      for (int64_t c0 = 0; c0 < f; c0 += kUpBlock) {
        const int64_t cw = std::min(kUpBlock, f - c0);
        std::memcpy(block.data(), a + c0 * d * es, cw * d * es);
        if (gated) std::memcpy(block.data() + cw * d * es, b + c0 * d * es, cw * d * es);
        p.up.push_back(Block(block.data(), d, (gated ? 2 : 1) * cw));
      }
      for (int64_t c0 = 0; c0 < d; c0 += kDownBlock)
        p.down.push_back(Block(c + c0 * f * es, f, std::min(kDownBlock, d - c0)));
    }
  }

  static constexpr int64_t kRefRows = 64;
  ExpertsShape shape_;
  bool bf16_;
  dnnl::engine eng_;
  std::vector<OneDnnFfn> ffns_;
  mutable PrimitiveCache cache_;
};

}  // namespace

std::unique_ptr<FfnBackend> MakeOneDnnBackend(const ExpertsShape& shape, bool bf16,
                                              const void* w1, const void* w3, const void* w2,
                                              const void* shared_w1, const void* shared_w3,
                                              const void* shared_w2) {
  try {
    return std::make_unique<OneDnnBackend>(shape, bf16, w1, w3, w2, shared_w1, shared_w3,
                                           shared_w2);
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string("oneDNN: ") + e.what());
  }
}

}  // namespace usmoe
