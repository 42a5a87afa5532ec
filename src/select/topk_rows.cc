// Row top-k (Token Choice), written once for every Highway target.
//
// k <= 16 (every production router): whole blocks of L rows (L = lanes) go
// through a vertical register top-k (TopKBlockPacked for k <= 8, 32-bit
// packed key+expert pairs; TopKBlockVertical above); leftover rows,
// and scalable-vector targets whose vectors cannot live in arrays, take k
// rounds of SIMD argmax over int32 keys that order like the floats (the
// first lane holding the maximum is the lowest expert: the tie rule).
// Larger k: one scan with a sorted k-buffer.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/select/topk_rows.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/simd/transpose16-inl.h"

#include <omp.h>

#include <climits>
#include <cmath>

#include "src/runtime/threads.h"
#include "src/select/select_keys.h"
#include "src/select/topk_rows.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Signed keys: +x keeps its bits, -x becomes -(its magnitude bits), so
// -0.0 and +0.0 both map to 0 and tie. INT32_MIN is never a key (the largest
// magnitude, a NaN's, maps to INT32_MIN + 1), so it marks "taken" and
// padding.
template <class DF, class DI = hn::RebindToSigned<DF>>
HWY_INLINE hn::Vec<DI> SignedKeys(DF df, hn::Vec<DF> v) {
  const DI di;
  (void)df;
  const auto bits = hn::BitCast(di, v);
  const auto sign = hn::ShiftRight<31>(bits);  // 0 or -1
  return hn::Sub(hn::Xor(bits, hn::And(sign, hn::Set(di, INT32_MAX))), sign);
}

// Round j takes the largest (key, -index) pair strictly below the pair taken
// in round j-1, so nothing is written back between rounds (a scalar store
// into the key row re-read by vector loads stalls store forwarding).
HWY_INLINE void TopKRowVec(const float* HWY_RESTRICT row, int64_t n, int64_t k,
                           int32_t* HWY_RESTRICT keys, int64_t* HWY_RESTRICT ids,
                           float* HWY_RESTRICT values) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::CappedTag<float, 1> df1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t padded = (n + lanes - 1) / lanes * lanes;
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(SignedKeys(df, hn::LoadU(df, row + i)), di, keys + i);
  for (; i < n; ++i) keys[i] = hn::GetLane(SignedKeys(df1, hn::Set(df1, row[i])));
  for (; i < padded; ++i) keys[i] = INT32_MIN;
  const auto vmin = hn::Set(di, INT32_MIN);
  const auto iota = hn::Iota(di, 0);
  int32_t prev_key = INT32_MAX;
  int32_t prev_idx = -1;
  for (int64_t j = 0; j < k; ++j) {
    const auto pk = hn::Set(di, prev_key), pi = hn::Set(di, prev_idx);
    auto vmax = vmin;
    for (int64_t b = 0; b < padded; b += lanes) {
      const auto kv = hn::LoadU(di, keys + b);
      const auto iv = hn::Add(iota, hn::Set(di, static_cast<int32_t>(b)));
      const auto below = hn::Or(hn::Lt(kv, pk), hn::And(hn::Eq(kv, pk), hn::Gt(iv, pi)));
      vmax = hn::Max(vmax, hn::IfThenElse(below, kv, vmin));
    }
    const auto top = hn::MaxOfLanes(di, vmax);
    for (int64_t b = 0;; b += lanes) {
      const auto kv = hn::LoadU(di, keys + b);
      const auto iv = hn::Add(iota, hn::Set(di, static_cast<int32_t>(b)));
      const auto below = hn::Or(hn::Lt(kv, pk), hn::And(hn::Eq(kv, pk), hn::Gt(iv, pi)));
      const intptr_t lane = hn::FindFirstTrue(di, hn::And(below, hn::Eq(kv, top)));
      if (lane >= 0) {
        prev_key = hn::GetLane(top);
        prev_idx = static_cast<int32_t>(b + lane);
        ids[j] = prev_idx;
        break;
      }
    }
  }
  for (int64_t j = 0; j < k; ++j) values[j] = row[ids[j]];
}

#if !HWY_HAVE_SCALABLE
// Vertical top-K: lane i follows token t0+i. Each lane keeps its best K
// (key, expert) pairs sorted by (key desc, expert asc) in registers; expert
// e's key is pushed through K compare-exchange steps. The pair being pushed
// down may be one displaced from above, with a lower expert than equal keys
// below it, so the exchange compares the expert too. Empty slots hold
// INT32_MIN, below every key. (Gathering the column instead of the
// transpose below measured 1.5x slower on Zen 5.)
// block: n × L keys of the transposed row block (block[e·L + i]).
template <int K>
HWY_INLINE void TopKBlockVertical(const int32_t* HWY_RESTRICT block, int64_t n,
                                  int32_t* HWY_RESTRICT out_ids) {
  const hn::ScalableTag<int32_t> di;
  using V = hn::Vec<decltype(di)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(di));
  V r[K], ri[K];
  for (int j = 0; j < K; ++j) {
    r[j] = hn::Set(di, INT32_MIN);
    ri[j] = hn::Set(di, -1);
  }
  for (int64_t e = 0; e < n; ++e) {
    V v = hn::LoadU(di, block + e * lanes);
    V vi = hn::Set(di, static_cast<int32_t>(e));
    for (int j = 0; j < K; ++j) {
      const auto m = hn::Or(hn::Gt(v, r[j]), hn::And(hn::Eq(v, r[j]), hn::Lt(vi, ri[j])));
      const V hi = hn::IfThenElse(m, v, r[j]), hii = hn::IfThenElse(m, vi, ri[j]);
      v = hn::IfThenElse(m, r[j], v);
      vi = hn::IfThenElse(m, ri[j], vi);
      r[j] = hi;
      ri[j] = hii;
    }
  }
  for (int j = 0; j < K; ++j) hn::StoreU(ri[j], di, out_ids + j * lanes);
}

// Keys of rows [t0, t0+L), experts [e0, n), transposed into block
// (block[e·L + i]) one row at a time through row_keys.
HWY_INLINE void TransposeKeysScalar(const float* HWY_RESTRICT scores, int64_t t0, int64_t n,
                                    int64_t e0, int32_t* HWY_RESTRICT row_keys,
                                    int32_t* HWY_RESTRICT block) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::CappedTag<float, 1> df1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t i = 0; i < lanes; ++i) {
    const float* row = scores + (t0 + i) * n;
    int64_t e = e0;
    for (; e + lanes <= n; e += lanes)
      hn::StoreU(SignedKeys(df, hn::LoadU(df, row + e)), di, row_keys + e);
    for (; e < n; ++e) row_keys[e] = hn::GetLane(SignedKeys(df1, hn::Set(df1, row[e])));
    for (e = e0; e < n; ++e) block[e * lanes + i] = row_keys[e];
  }
}

// The 16×16 register transpose (transpose16-inl.h) is used where it exists.
// Not under clang: clang 14's x86 backend aborts on the functions below with
// the transpose inlined ("Do not know how to split the result of this
// operator"); clang builds (fuzzing) take the scalar transpose.
#undef USMOE_TOPK_REGISTER_TRANSPOSE
#if (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) && !defined(__clang__)
#define USMOE_TOPK_REGISTER_TRANSPOSE 1
#else
#define USMOE_TOPK_REGISTER_TRANSPOSE 0
#endif

#if HWY_TARGET != HWY_SCALAR
// K <= 8, packed 32-bit pairs: a key keeps its high 32 - b bits (n <= 2^b)
// and its low b bits become 2^b - 1 - expert, so one compare-exchange is one
// Max and one Min over all L lanes and equal (truncated) keys put the lower
// expert first, the tie rule. (Packing the whole key and the expert in an
// int64 costs the same two ops at half the lanes: 1.6-2x slower.)
// Truncation can only misorder cells whose high bits are equal. The chain
// therefore keeps the (K+1)-th largest too: where the K+1 survivors of a
// lane are strictly decreasing in their high bits, its top K and their order
// are exact (everything dropped is <= the (K+1)-th); any other lane is
// flagged in `redo` and redone exactly by the caller: rows with exact ties
// at or inside the top K+1, or values within about 2^-(23-b) (relative) of
// each other there.
template <int K>
HWY_INLINE void PushPacked(hn::Vec<hn::ScalableTag<int32_t>>* HWY_RESTRICT r,
                           hn::Vec<hn::ScalableTag<int32_t>> a) {
#pragma GCC unroll 8
  for (int j = 0; j < K; ++j) {
    const auto t = hn::Max(r[j], a);
    a = hn::Min(r[j], a);
    r[j] = t;
  }
  r[K] = hn::Max(r[K], a);
}

// (key & himask) | tag. Not hn::OrAnd: clang 14 aborts on it in the AVX3_DL
// target ("Do not know how to split the result of this operator"); GCC
// emits the same single vpternlogd for this form.
template <class D>
HWY_INLINE hn::Vec<D> Tagged(D d, hn::Vec<D> key, hn::Vec<D> himask, int64_t tag) {
  return hn::Or(hn::And(key, himask), hn::Set(d, static_cast<int32_t>(tag)));
}

// Returns whether any lane needs the exact redo (redo[i] = 1 for those).
template <int K>
HWY_INLINE bool TopKBlockPacked(const float* HWY_RESTRICT scores, int64_t t0, int64_t n,
                                int32_t* HWY_RESTRICT row_keys, int32_t* HWY_RESTRICT block,
                                int32_t* HWY_RESTRICT out_ids, int32_t* HWY_RESTRICT redo) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  using V = hn::Vec<decltype(di)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(di));
  int b = 0;
  while ((int64_t{1} << b) < n) ++b;
  const int32_t tagbase = static_cast<int32_t>((int64_t{1} << b) - 1);
  const V himask = hn::Set(di, ~tagbase);
  V r[K + 1];
  for (int j = 0; j <= K; ++j) r[j] = hn::Set(di, INT32_MIN);
  int64_t e = 0;
#if USMOE_TOPK_REGISTER_TRANSPOSE
  // Transposed tiles go straight into the chain, never through memory.
  for (; e + 16 <= n; e += 16) {
    // Scores are usually >= 0 (softmax, sigmoid), whose bits are already
    // their keys: one OR across the tile replaces 3 ops per vector.
    V c[16];
    for (int64_t i = 0; i < 16; ++i)
      c[i] = hn::BitCast(di, hn::LoadU(df, scores + (t0 + i) * n + e));
    V any = c[0];
    for (int64_t i = 1; i < 16; ++i) any = hn::Or(any, c[i]);
    if (HWY_UNLIKELY(!hn::AllFalse(di, hn::Lt(any, hn::Zero(di)))))
      for (int64_t i = 0; i < 16; ++i) c[i] = SignedKeys(df, hn::BitCast(df, c[i]));
    Transpose16x16(c);
    for (int64_t j = 0; j < 16; ++j)
      PushPacked<K>(r, Tagged(di, c[j], himask, tagbase - e - j));
  }
#endif
  if (e < n) {
    TransposeKeysScalar(scores, t0, n, e, row_keys, block);
    for (; e < n; ++e)
      PushPacked<K>(r, Tagged(di, hn::LoadU(di, block + e * lanes), himask, tagbase - e));
  }
  const V lowmask = hn::Set(di, tagbase);
  auto tie = hn::Eq(hn::And(r[0], himask), hn::And(r[1], himask));
  for (int j = 0; j < K; ++j) {
    if (j > 0) tie = hn::Or(tie, hn::Eq(hn::And(r[j], himask), hn::And(r[j + 1], himask)));
    hn::StoreU(hn::Sub(hn::Set(di, tagbase), hn::And(r[j], lowmask)), di, out_ids + j * lanes);
  }
  if (hn::AllFalse(di, tie)) return false;
  hn::StoreU(hn::IfThenElseZero(tie, hn::Set(di, 1)), di, redo);
  return true;
}
#endif  // HWY_TARGET != HWY_SCALAR

// Rows [t0, t0+L): selected in registers, written back.
HWY_INLINE void TopKBlock(const float* HWY_RESTRICT scores, int64_t t0, int64_t n, int64_t k,
                          const uint8_t* valid, int32_t* HWY_RESTRICT scratch,
                          int64_t* HWY_RESTRICT ids, float* HWY_RESTRICT values) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int32_t* out_ids = scratch;                                // 16 × L
  int32_t* redo = out_ids + kTopKVectorMaxK * lanes;         // L
  int32_t* row_keys = redo + lanes;                          // one row
  int32_t* block = row_keys + n + lanes;                     // n × L
  (void)di;
  bool any_redo = false;
  if (k <= 8) {
#if HWY_TARGET != HWY_SCALAR
    switch (k) {
#define USMOE_TOPK_CASE(K) \
  case K: any_redo = TopKBlockPacked<K>(scores, t0, n, row_keys, block, out_ids, redo); break;
      USMOE_TOPK_CASE(1) USMOE_TOPK_CASE(2) USMOE_TOPK_CASE(3) USMOE_TOPK_CASE(4)
      USMOE_TOPK_CASE(5) USMOE_TOPK_CASE(6) USMOE_TOPK_CASE(7) USMOE_TOPK_CASE(8)
#undef USMOE_TOPK_CASE
      default: break;
    }
#endif
  } else {
    int64_t e = 0;
#if USMOE_TOPK_REGISTER_TRANSPOSE
    for (; e + 16 <= n; e += 16) {
      hn::Vec<decltype(di)> c[16];
      for (int64_t i = 0; i < 16; ++i)
        c[i] = SignedKeys(df, hn::LoadU(df, scores + (t0 + i) * n + e));
      Transpose16x16(c);
      for (int64_t j = 0; j < 16; ++j) hn::StoreU(c[j], di, block + (e + j) * lanes);
    }
#endif
    if (e < n) TransposeKeysScalar(scores, t0, n, e, row_keys, block);
    switch (k) {
#define USMOE_TOPK_CASE(K) \
  case K: TopKBlockVertical<K>(block, n, out_ids); break;
      USMOE_TOPK_CASE(9) USMOE_TOPK_CASE(10) USMOE_TOPK_CASE(11) USMOE_TOPK_CASE(12)
      USMOE_TOPK_CASE(13) USMOE_TOPK_CASE(14) USMOE_TOPK_CASE(15) USMOE_TOPK_CASE(16)
#undef USMOE_TOPK_CASE
      default: break;
    }
  }
  for (int64_t i = 0; i < lanes; ++i) {
    const int64_t t = t0 + i;
    if (valid && !valid[t]) continue;
    if (any_redo && redo[i]) {
      TopKRowVec(scores + t * n, n, k, row_keys, ids + t * k, values + t * k);
      continue;
    }
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = out_ids[j * lanes + i];
      ids[t * k + j] = e;
      values[t * k + j] = scores[t * n + e];
    }
  }
}
#endif  // !HWY_HAVE_SCALABLE

void TopKRowsVec(const float* HWY_RESTRICT scores, int64_t rows, int64_t n, int64_t k,
                 const uint8_t* valid, int32_t* HWY_RESTRICT keys, int64_t per,
                 int64_t* HWY_RESTRICT ids, float* HWY_RESTRICT values) {
#if HWY_HAVE_SCALABLE
  const int64_t full = 0;
#else
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>()));
  // Vertical blocks win while the K-deep exchange chain per expert is cheap
  // next to k horizontal passes: measured 127 vs 252 ns/token at N=64, k=8,
  // but 503 vs 433 at N=256 (one Zen 5 core).
  const int64_t full = (lanes > 1 && (k <= 8 ? n <= 1024 : n <= 128)) ? rows / lanes * lanes : 0;
#endif
  // Not ParallelFor: called from its lambda the same kernel ran 2x slower
  // (one thread, top-8 of 256: 61-71 -> 116-121 ns/token; top-8 of 64:
  // 20 -> 33), likely because the captured pointers are no longer
  // restrict-qualified. So the serial path (one thread: no OpenMP region,
  // see ParallelFor) and the region are written out here.
  const int threads = SplitThreads(rows * n > (1 << 15));
  if (threads <= 1) {
#if !HWY_HAVE_SCALABLE
    for (int64_t t0 = 0; t0 < full; t0 += lanes) TopKBlock(scores, t0, n, k, valid, keys, ids, values);
#endif
    for (int64_t t = full; t < rows; ++t) {
      if (valid && !valid[t]) continue;
      TopKRowVec(scores + t * n, n, k, keys, ids + t * k, values + t * k);
    }
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int32_t* mine = keys + omp_get_thread_num() * per;
#if !HWY_HAVE_SCALABLE
#pragma omp for schedule(static)
    for (int64_t t0 = 0; t0 < full; t0 += lanes) TopKBlock(scores, t0, n, k, valid, mine, ids, values);
#endif
#pragma omp for schedule(static)
    for (int64_t t = full; t < rows; ++t) {
      if (valid && !valid[t]) continue;
      TopKRowVec(scores + t * n, n, k, mine, ids + t * k, values + t * k);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(TopKRowsVec);

namespace {

// A sorted k-buffer of keys, filled by one scan of the row; strictly-greater
// insertion keeps the lower index ahead among equal keys.
void TopKRowInsertion(const float* row, int64_t n, int64_t k, uint32_t* keys, int64_t* ids,
                      float* values) {
  int64_t filled = 0;
  for (int64_t e = 0; e < n; ++e) {
    const uint32_t key = OrderedKey(row[e]);
    if (filled == k && key <= keys[k - 1]) continue;
    int64_t j = filled < k ? filled++ : k - 1;
    while (j > 0 && keys[j - 1] < key) {
      keys[j] = keys[j - 1];
      ids[j] = ids[j - 1];
      --j;
    }
    keys[j] = key;
    ids[j] = e;
  }
  for (int64_t j = 0; j < k; ++j) values[j] = row[ids[j]];
}

}  // namespace

int64_t TopKScratchSize(int64_t n, int64_t k) {
  // Vertical blocks: 16·L expert ids + L redo flags + one padded row + n·L
  // keys; the horizontal path: one padded row. L <= 64 int32 lanes on any
  // target.
  constexpr int64_t lanes = 64;
  return k <= kTopKVectorMaxK ? kTopKVectorMaxK * lanes + lanes + (n + lanes) + n * lanes : k;
}

void TopKRows(const float* scores, int64_t num_rows, int64_t n, int64_t k, const uint8_t* valid,
              uint32_t* keys, int64_t* ids, float* values) {
  const int64_t per = TopKScratchSize(n, k);
  if (k <= kTopKVectorMaxK) {
    HWY_DYNAMIC_DISPATCH(TopKRowsVec)(scores, num_rows, n, k, valid,
                                      reinterpret_cast<int32_t*>(keys), per, ids, values);
    return;
  }
  ParallelFor(SplitThreads(num_rows * n > (1 << 15)), num_rows, false, [&](int64_t t, int me) {
    if (valid && !valid[t]) return;
    TopKRowInsertion(scores + t * n, n, k, keys + me * per, ids + t * k, values + t * k);
  });
}

}  // namespace usmoe
#endif  // HWY_ONCE
