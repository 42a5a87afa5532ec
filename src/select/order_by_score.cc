// A stable LSD radix sort on inverted order-preserving keys: stability keeps
// the ascending index order of equal scores, which is the tie rule, so no
// index needs to be part of the key. One pass counts all four 8-bit
// digits; a digit every key shares (the sign and top exponent bits of
// crowded scores usually are) is skipped.
#include "src/select/order_by_score.h"

#include <cstring>
#include <utility>

#include "src/select/select_keys.h"

namespace usmoe {

// Insertion sort up to 64 winners: usmoe_topc_cols 1 thread, 512x8 at
// C = 48 took 13.8 us with radix (11.0 insertion), at C = 80 9.6 radix
// against 13.0 insertion.
constexpr int64_t kInsertionMax = 64;

void OrderByScoreDesc(const float* values, int64_t stride, uint32_t* idx, int64_t m,
                      OrderScratch* s) {
  if (m < 2) return;
  if (m <= kInsertionMax) {
    // Few winners: clearing and prefix-summing 4 x 256 counts would cost
    // more than the sort (16 a column: 66% of usmoe_topc_cols at 64x8,
    // 4.7 -> 1.6 us).
    // Insertion by strictly greater inverted key keeps equal scores in
    // ascending index order, as the radix sort's stability does.
    uint32_t keys[kInsertionMax];
    for (int64_t i = 0; i < m; ++i) {
      const uint32_t k = ~OrderedKey(values[idx[i] * stride]);
      const uint32_t id = idx[i];
      int64_t j = i;
      for (; j > 0 && keys[j - 1] > k; --j) {
        keys[j] = keys[j - 1];
        idx[j] = idx[j - 1];
      }
      keys[j] = k;
      idx[j] = id;
    }
    return;
  }
  // 8-bit digits: with a few hundred winners per column, clearing and
  // scanning 2048 counts per 11-bit digit costs more than the extra pass.
  constexpr int kDigits = 4;
  constexpr uint32_t kBuckets = 256;
  s->keys.resize(m);
  s->keys_tmp.resize(m);
  s->idx_tmp.resize(m);
  uint32_t* keys = s->keys.data();
  uint32_t* keys2 = s->keys_tmp.data();
  uint32_t* idx2 = s->idx_tmp.data();
  uint32_t count[kDigits][kBuckets] = {};
  for (int64_t i = 0; i < m; ++i) {  // ascending inverted key = descending score
    const uint32_t k = ~OrderedKey(values[idx[i] * stride]);
    keys[i] = k;
    for (int d = 0; d < kDigits; ++d) ++count[d][(k >> (8 * d)) & 0xFF];
  }
  uint32_t* src_k = keys;
  uint32_t* src_i = idx;
  uint32_t* dst_k = keys2;
  uint32_t* dst_i = idx2;
  for (int d = 0; d < kDigits; ++d) {
    const int shift = 8 * d;
    uint32_t* c = count[d];
    if (c[(src_k[0] >> shift) & 0xFF] == static_cast<uint32_t>(m)) continue;
    uint32_t sum = 0;
    for (uint32_t b = 0; b < kBuckets; ++b) {
      const uint32_t here = c[b];
      c[b] = sum;
      sum += here;
    }
    for (int64_t i = 0; i < m; ++i) {
      const uint32_t pos = c[(src_k[i] >> shift) & 0xFF]++;
      dst_k[pos] = src_k[i];
      dst_i[pos] = src_i[i];
    }
    std::swap(src_k, dst_k);
    std::swap(src_i, dst_i);
  }
  if (src_i != idx) std::memcpy(idx, src_i, sizeof(uint32_t) * m);
}

}  // namespace usmoe
