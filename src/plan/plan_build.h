// Plan building: selected cells -> expert-grouped plan + gate weights.
#ifndef USMOE_SRC_PLAN_PLAN_BUILD_H_
#define USMOE_SRC_PLAN_PLAN_BUILD_H_

#include <cstdint>

#include "src/plan/plan_data.h"

namespace usmoe {

enum class GateNorm : int32_t { kNone = 0, kSelected = 1, kAll = 2 };

// selected: T×N bytes, nonzero = cell chosen. scores: T×N, the values the
// selection ranked (the gate weights before normalisation). Overwrites every
// field of *plan except scores/has_scores.
void BuildPlan(const uint8_t* selected, const float* scores, int64_t num_tokens,
               int64_t num_experts, GateNorm norm, bool token_view, PlanData* plan);

}  // namespace usmoe

#endif  // USMOE_SRC_PLAN_PLAN_BUILD_H_
