// Global top-c (UNIFIED): the c largest cells of a set, by radix select.
//
// Phases, kept apart so a caller can merge histograms across ranks later:
// key histogram -> threshold -> compaction. Candidates are the cells of a
// rows×cols block whose row is valid (valid == null: all rows).
#ifndef USMOE_SRC_SELECT_TOPC_RADIX_H_
#define USMOE_SRC_SELECT_TOPC_RADIX_H_

#include <cstdint>

namespace usmoe {

// The c-th largest key among the candidates, and how many cells with that
// exact key the selection takes (the lowest-index ones): every cell with a
// larger key is selected, plus `ties` cells equal to `key`.
struct TopCThreshold {
  uint32_t key = 0;
  int64_t ties = 0;
};

// 1 <= c <= number of candidates.
TopCThreshold FindTopCThreshold(const float* values, int64_t rows, int64_t cols,
                                const uint8_t* valid, int64_t c);

// Calls emit(flat_index) for each selected cell, in ascending flat index.
template <class Emit>
void CompactTopC(const float* values, int64_t rows, int64_t cols, const uint8_t* valid,
                 TopCThreshold th, Emit&& emit);

}  // namespace usmoe

#include "src/select/select_keys.h"

namespace usmoe {

template <class Emit>
void CompactTopC(const float* values, int64_t rows, int64_t cols, const uint8_t* valid,
                 TopCThreshold th, Emit&& emit) {
  int64_t ties_left = th.ties;
  for (int64_t r = 0; r < rows; ++r) {
    if (valid && !valid[r]) continue;
    const float* row = values + r * cols;
    for (int64_t j = 0; j < cols; ++j) {
      const uint32_t key = OrderedKey(row[j]);
      if (key > th.key || (key == th.key && ties_left > 0 && ties_left--)) emit(r * cols + j);
    }
  }
}

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_TOPC_RADIX_H_
