#include "src/select/topc_radix.h"

#include <array>

namespace usmoe {
namespace {

// Three MSD digits of 11, 11 and 10 bits: a 2048-entry histogram stays in
// L1, and three passes pin down all 32 key bits exactly.
constexpr int kDigitBits[3] = {11, 11, 10};

}  // namespace

TopCThreshold FindTopCThreshold(const float* values, int64_t rows, int64_t cols,
                                const uint8_t* valid, int64_t c) {
  uint32_t prefix = 0;       // key bits fixed so far
  uint32_t prefix_mask = 0;  // which bits those are
  int64_t need = c;          // how many of the cells matching prefix we still take
  int shift = 32;
  std::array<int64_t, 2048> hist;
  for (int pass = 0; pass < 3; ++pass) {
    const int bits = kDigitBits[pass];
    shift -= bits;
    const uint32_t digit_mask = (1u << bits) - 1;
    hist.fill(0);
    for (int64_t r = 0; r < rows; ++r) {
      if (valid && !valid[r]) continue;
      const float* row = values + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        const uint32_t key = OrderedKey(row[j]);
        if ((key & prefix_mask) == prefix) ++hist[(key >> shift) & digit_mask];
      }
    }
    // Walk digits from the top until the bucket holding the need-th cell.
    int64_t above = 0;
    uint32_t digit = digit_mask;
    for (;; --digit) {
      if (above + hist[digit] >= need) break;
      above += hist[digit];
    }
    need -= above;
    prefix |= digit << shift;
    prefix_mask |= digit_mask << shift;
  }
  TopCThreshold th;
  th.key = prefix;
  th.ties = need;
  return th;
}

}  // namespace usmoe
