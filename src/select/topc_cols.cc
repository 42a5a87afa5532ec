#include "src/select/topc_cols.h"

#include <algorithm>
#include <functional>

#include "src/select/select_keys.h"

namespace usmoe {

// One 64-bit word per candidate: key in the high half, the row's complement
// in the low half, so a plain descending order of words is exactly "higher
// score first, lower row first" and nth_element needs no comparator object.
// rows < 2^32 is guaranteed by the caller (capi bounds T).
void TopCColumn(const float* scores, int64_t rows, int64_t n, int64_t col,
                const uint8_t* valid, int64_t capacity, uint64_t* scratch,
                int64_t* row_ids) {
  int64_t m = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (valid && !valid[r]) continue;
    scratch[m++] = (static_cast<uint64_t>(OrderedKey(scores[r * n + col])) << 32) |
                   (0xFFFFFFFFu - static_cast<uint32_t>(r));
  }
  std::greater<uint64_t> desc;
  if (capacity < m) std::nth_element(scratch, scratch + capacity, scratch + m, desc);
  std::sort(scratch, scratch + capacity, desc);
  for (int64_t i = 0; i < capacity; ++i)
    row_ids[i] = static_cast<int64_t>(0xFFFFFFFFu - static_cast<uint32_t>(scratch[i]));
}

}  // namespace usmoe
