// The routing plan as the C++ stages see it; capi/ wraps it as usmoe_plan.
#ifndef USMOE_SRC_PLAN_PLAN_DATA_H_
#define USMOE_SRC_PLAN_PLAN_DATA_H_

#include <cstdint>
#include <vector>

namespace usmoe {

// Expert-grouped: entries expert_offsets[e] .. expert_offsets[e+1]-1 of
// token_ids / weights belong to expert e, token ids ascending within it.
struct PlanData {
  int64_t num_tokens = 0;
  int64_t num_experts = 0;
  int64_t num_selected = 0;
  std::vector<int64_t> expert_offsets;  // [N+1]
  std::vector<int64_t> token_ids;       // [c]
  std::vector<float> weights;           // [c]
  std::vector<int64_t> token_counts;    // [T]
  std::vector<int64_t> expert_loads;    // [N]
  bool has_scores = false;
  std::vector<float> scores;            // [T*N] when has_scores
  bool has_token_view = false;
  std::vector<int64_t> token_offsets;   // [T+1] when has_token_view
  std::vector<int64_t> token_experts;   // [c]
  std::vector<float> token_weights;     // [c]
};

}  // namespace usmoe

#endif  // USMOE_SRC_PLAN_PLAN_DATA_H_
