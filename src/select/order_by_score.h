// Orders selected cells by (score descending, index ascending).
#ifndef USMOE_SRC_SELECT_ORDER_BY_SCORE_H_
#define USMOE_SRC_SELECT_ORDER_BY_SCORE_H_

#include <cstdint>
#include <vector>

namespace usmoe {

struct OrderScratch {
  std::vector<uint32_t> keys, keys_tmp, idx_tmp;
};

// idx[0..m) holds ascending indices i of scores values[i·stride] (a
// compaction's output); reorders them by descending score, equal scores
// keeping ascending index. No NaN among the scores.
void OrderByScoreDesc(const float* values, int64_t stride, uint32_t* idx, int64_t m,
                      OrderScratch* scratch);

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_ORDER_BY_SCORE_H_
