#include "src/select/topk_rows.h"

#include <omp.h>

#include "src/runtime/threads.h"
#include "src/select/select_keys.h"

namespace usmoe {

// A sorted k-buffer of keys, filled by one scan of the row. Comparing keys
// (not floats) makes -0.0 == +0.0; scanning in index order and inserting
// only on strictly-greater keys keeps the lower index ahead among equals.
void TopKRow(const float* row, int64_t n, int64_t k, uint32_t* keys, int64_t* ids,
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

void TopKRows(const float* scores, int64_t num_rows, int64_t n, int64_t k, uint32_t* keys,
              int64_t* ids, float* values) {
  const int threads = NumThreads();
#pragma omp parallel for schedule(static) num_threads(threads) if (num_rows * n > (1 << 15))
  for (int64_t t = 0; t < num_rows; ++t)
    TopKRow(scores + t * n, n, k, keys + omp_get_thread_num() * k, ids + t * k, values + t * k);
}

}  // namespace usmoe
