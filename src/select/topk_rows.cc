// Row top-k (Token Choice), written once for every Highway target.
//
// k <= 16 (every production router): whole blocks of L rows (L = lanes) go
// through a vertical register top-k (see TopKBlockVertical); leftover rows,
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

// Signed keys: +x keeps its bits, -x flips its magnitude bits; -0.0 becomes
// +0.0 first. INT32_MIN is never a key of a non-NaN float, so it marks
// "taken" and padding.
template <class DF, class DI = hn::RebindToSigned<DF>>
HWY_INLINE hn::Vec<DI> SignedKeys(DF df, hn::Vec<DF> v) {
  const DI di;
  (void)df;
  auto bits = hn::BitCast(di, v);
  bits = hn::IfThenZeroElse(hn::Eq(bits, hn::Set(di, INT32_MIN)), bits);
  return hn::Xor(bits, hn::And(hn::ShiftRight<31>(bits), hn::Set(di, INT32_MAX)));
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

#if HWY_TARGET != HWY_SCALAR
// K <= 8: each (key, expert) pair packed into one int64, the key in the high
// half and 0xFFFFFFFF - expert in the low half, so a compare-exchange is one
// Max and one Min and still applies the tie rule (equal keys: the larger low
// half, the lower expert, wins). 2 ops per step against 9 with separate key
// and expert vectors, at half the lanes. The packed pair needs 64-bit
// Min/Max, which AVX-512 has natively and the other targets emulate.
template <int K>
HWY_INLINE void TopKBlockVertical64(const int32_t* HWY_RESTRICT block, int64_t n,
                                    int32_t* HWY_RESTRICT out_ids) {
  const hn::ScalableTag<int32_t> di;
  const hn::Half<decltype(di)> dh;
  const hn::Rebind<int64_t, decltype(dh)> d64;
  using V64 = hn::Vec<decltype(d64)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(di));
  const int64_t half = static_cast<int64_t>(hn::Lanes(d64));
  HWY_ALIGN int64_t packed[hn::MaxLanes(d64)];
  // One half of the block's tokens at a time: K live accumulators, which
  // GCC keeps in registers (two halves at once, 2K, it spilled).
  for (int64_t h = 0; h < 2; ++h) {
    V64 r[K];
#pragma GCC unroll 16
    for (int j = 0; j < K; ++j) r[j] = hn::Set(d64, INT64_MIN);
    const int32_t* src = block + h * half;
    for (int64_t e = 0; e < n; ++e) {
      const auto v = hn::LoadU(dh, src + e * lanes);
      const auto tag = hn::Set(d64, static_cast<int64_t>(0xFFFFFFFFu - static_cast<uint32_t>(e)));
      V64 a = hn::Or(hn::ShiftLeft<32>(hn::PromoteTo(d64, v)), tag);
#pragma GCC unroll 16
      for (int j = 0; j < K; ++j) {
        const V64 t = hn::Max(r[j], a);
        a = hn::Min(r[j], a);
        r[j] = t;
      }
    }
    for (int j = 0; j < K; ++j) {
      hn::Store(r[j], d64, packed);
      for (int64_t i = 0; i < half; ++i)
        out_ids[j * lanes + h * half + i] =
            static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(packed[i]));
    }
  }
}
#endif  // HWY_TARGET != HWY_SCALAR

// Rows [t0, t0+L): keys transposed into L1 scratch, selected, written back.
HWY_INLINE void TopKBlock(const float* HWY_RESTRICT scores, int64_t t0, int64_t n, int64_t k,
                          const uint8_t* valid, int32_t* HWY_RESTRICT scratch,
                          int64_t* HWY_RESTRICT ids, float* HWY_RESTRICT values) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::CappedTag<float, 1> df1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int32_t* out_ids = scratch;                                // 16 × L
  int32_t* row_keys = out_ids + kTopKVectorMaxK * lanes;     // one row
  int32_t* block = row_keys + n + lanes;                     // n × L
  int64_t e_simd = 0;  // experts [0, e_simd) transposed in registers
  // Not under clang: clang 14's x86 backend aborts on this function with
  // the transpose inlined ("Do not know how to split the result of this
  // operator"); clang builds (fuzzing) take the scalar transpose below.
#if (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) && !defined(__clang__)
  for (; e_simd + 16 <= n; e_simd += 16) {
    hn::Vec<decltype(di)> r[16];
    for (int64_t i = 0; i < 16; ++i)
      r[i] = SignedKeys(df, hn::LoadU(df, scores + (t0 + i) * n + e_simd));
    Transpose16x16(r);
    for (int64_t j = 0; j < 16; ++j) hn::StoreU(r[j], di, block + (e_simd + j) * lanes);
  }
#endif
  if (e_simd < n) {
    for (int64_t i = 0; i < lanes; ++i) {
      const float* row = scores + (t0 + i) * n;
      int64_t e = e_simd;
      for (; e + lanes <= n; e += lanes)
        hn::StoreU(SignedKeys(df, hn::LoadU(df, row + e)), di, row_keys + e);
      for (; e < n; ++e) row_keys[e] = hn::GetLane(SignedKeys(df1, hn::Set(df1, row[e])));
      for (e = e_simd; e < n; ++e) block[e * lanes + i] = row_keys[e];
    }
  }
  switch (k) {
#if HWY_TARGET != HWY_SCALAR
#define USMOE_TOPK_CASE(K) \
  case K: TopKBlockVertical64<K>(block, n, out_ids); break;
#else
#define USMOE_TOPK_CASE(K) \
  case K: TopKBlockVertical<K>(block, n, out_ids); break;
#endif
    USMOE_TOPK_CASE(1) USMOE_TOPK_CASE(2) USMOE_TOPK_CASE(3) USMOE_TOPK_CASE(4)
    USMOE_TOPK_CASE(5) USMOE_TOPK_CASE(6) USMOE_TOPK_CASE(7) USMOE_TOPK_CASE(8)
#undef USMOE_TOPK_CASE
#define USMOE_TOPK_CASE(K) \
  case K: TopKBlockVertical<K>(block, n, out_ids); break;
    USMOE_TOPK_CASE(9) USMOE_TOPK_CASE(10) USMOE_TOPK_CASE(11) USMOE_TOPK_CASE(12)
    USMOE_TOPK_CASE(13) USMOE_TOPK_CASE(14) USMOE_TOPK_CASE(15) USMOE_TOPK_CASE(16)
#undef USMOE_TOPK_CASE
    default: break;
  }
  for (int64_t i = 0; i < lanes; ++i) {
    const int64_t t = t0 + i;
    if (valid && !valid[t]) continue;
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
#pragma omp parallel num_threads(NumThreads()) if (rows * n > (1 << 15))
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
  // Vertical blocks: 16·L expert ids + one padded row + n·L keys; the
  // horizontal path: one padded row. L <= 64 int32 lanes on any target.
  constexpr int64_t lanes = 64;
  return k <= kTopKVectorMaxK ? kTopKVectorMaxK * lanes + (n + lanes) + n * lanes : k;
}

void TopKRows(const float* scores, int64_t num_rows, int64_t n, int64_t k, const uint8_t* valid,
              uint32_t* keys, int64_t* ids, float* values) {
  const int64_t per = TopKScratchSize(n, k);
  if (k <= kTopKVectorMaxK) {
    HWY_DYNAMIC_DISPATCH(TopKRowsVec)(scores, num_rows, n, k, valid,
                                      reinterpret_cast<int32_t*>(keys), per, ids, values);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(NumThreads()) if (num_rows * n > (1 << 15))
  for (int64_t t = 0; t < num_rows; ++t) {
    if (valid && !valid[t]) continue;
    TopKRowInsertion(scores + t * n, n, k, keys + omp_get_thread_num() * per, ids + t * k,
                     values + t * k);
  }
}

}  // namespace usmoe
#endif  // HWY_ONCE
