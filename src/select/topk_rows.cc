// Row top-k (Token Choice), written once for every Highway target.
//
// k <= 16 (every production router): k rounds of SIMD argmax over int32 keys
// that order like the floats. Each round takes the row maximum and the first
// lane holding it, which is the lowest expert among equal scores: the tie
// rule falls out of FindFirstTrue. Larger k: one scan with a sorted k-buffer.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/select/topk_rows.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <omp.h>

#include <climits>

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

void TopKRowVec(const float* HWY_RESTRICT row, int64_t n, int64_t k, int32_t* HWY_RESTRICT keys,
                int64_t* HWY_RESTRICT ids, float* HWY_RESTRICT values) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::CappedTag<float, 1> df1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t padded = (n + lanes - 1) / lanes * lanes;
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(SignedKeys(df, hn::LoadU(df, row + i)), di, keys + i);
  for (; i < n; ++i) keys[i] = hn::GetLane(SignedKeys(df1, hn::Set(df1, row[i])));
  for (; i < padded; ++i) keys[i] = INT32_MIN;
  for (int64_t j = 0; j < k; ++j) {
    auto vmax = hn::LoadU(di, keys);
    for (int64_t b = lanes; b < padded; b += lanes) vmax = hn::Max(vmax, hn::LoadU(di, keys + b));
    const auto top = hn::MaxOfLanes(di, vmax);  // broadcast in every lane
    for (int64_t b = 0;; b += lanes) {
      const intptr_t lane = hn::FindFirstTrue(di, hn::Eq(hn::LoadU(di, keys + b), top));
      if (lane >= 0) {
        ids[j] = b + lane;
        keys[b + lane] = INT32_MIN;
        break;
      }
    }
  }
  for (int64_t j = 0; j < k; ++j) values[j] = row[ids[j]];
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(TopKRowVec);

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
  return k <= kTopKVectorMaxK ? n + static_cast<int64_t>(HWY_MAX_BYTES / 4) : k;
}

void TopKRow(const float* row, int64_t n, int64_t k, uint32_t* keys, int64_t* ids,
             float* values) {
  if (k <= kTopKVectorMaxK) {
    HWY_DYNAMIC_DISPATCH(TopKRowVec)(row, n, k, reinterpret_cast<int32_t*>(keys), ids, values);
  } else {
    TopKRowInsertion(row, n, k, keys, ids, values);
  }
}

void TopKRows(const float* scores, int64_t num_rows, int64_t n, int64_t k, uint32_t* keys,
              int64_t* ids, float* values) {
  const int threads = NumThreads();
  const int64_t per = TopKScratchSize(n, k);
#pragma omp parallel for schedule(static) num_threads(threads) if (num_rows * n > (1 << 15))
  for (int64_t t = 0; t < num_rows; ++t)
    TopKRow(scores + t * n, n, k, keys + omp_get_thread_num() * per, ids + t * k, values + t * k);
}

}  // namespace usmoe
#endif  // HWY_ONCE
