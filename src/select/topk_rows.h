// Row top-k (Token Choice): the k largest cells of each row.
#ifndef USMOE_SRC_SELECT_TOPK_ROWS_H_
#define USMOE_SRC_SELECT_TOPK_ROWS_H_

#include <cstdint>

namespace usmoe {

// Up to this k the SIMD iterative argmax is used; above, a k-buffer scan.
constexpr int64_t kTopKVectorMaxK = 16;

// Scratch entries (uint32) one row needs.
int64_t TopKScratchSize(int64_t n, int64_t k);

// For each row t with valid[t] != 0 (valid may be null), the k largest of
// its n scores in descending order (equal scores: lower index first), into
// ids/values rows t·k .. t·k+k-1 (rows skipped are not written).
// 1 <= k <= n. keys: NumThreads() · TopKScratchSize(n, k) entries.
void TopKRows(const float* scores, int64_t num_rows, int64_t n, int64_t k, const uint8_t* valid,
              uint32_t* keys, int64_t* ids, float* values);

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_TOPK_ROWS_H_
