// Column top-C (Expert Choice): the C largest cells of each column.
#ifndef USMOE_SRC_SELECT_TOPC_COLS_H_
#define USMOE_SRC_SELECT_TOPC_COLS_H_

#include <cstdint>

namespace usmoe {

// For column `col` of a rows×n matrix, the C largest cells among rows with
// valid[r] != 0 (valid may be null), in descending order (equal scores:
// lower row first). 1 <= C <= number of valid rows. scratch: rows entries.
void TopCColumn(const float* scores, int64_t rows, int64_t n, int64_t col,
                const uint8_t* valid, int64_t capacity, uint64_t* scratch,
                int64_t* row_ids);

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_TOPC_COLS_H_
