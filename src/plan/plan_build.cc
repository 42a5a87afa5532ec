#include "src/plan/plan_build.h"

#include <algorithm>

namespace usmoe {

// A counting sort by expert. Scanning cells in flat order (token-major)
// makes token ids ascending within each expert for free, which is also what
// makes the plan independent of how the selection was computed.
void BuildPlan(const uint8_t* selected, const float* scores, int64_t T, int64_t N,
               GateNorm norm, bool token_view, PlanData* plan) {
  plan->num_tokens = T;
  plan->num_experts = N;
  plan->expert_loads.assign(N, 0);
  plan->token_counts.assign(T, 0);
  for (int64_t t = 0; t < T; ++t) {
    const uint8_t* sel = selected + t * N;
    int64_t count = 0;
    for (int64_t e = 0; e < N; ++e) {
      if (sel[e]) {
        ++plan->expert_loads[e];
        ++count;
      }
    }
    plan->token_counts[t] = count;
  }
  plan->expert_offsets.resize(N + 1);
  plan->expert_offsets[0] = 0;
  for (int64_t e = 0; e < N; ++e)
    plan->expert_offsets[e + 1] = plan->expert_offsets[e] + plan->expert_loads[e];
  const int64_t c = plan->expert_offsets[N];
  plan->num_selected = c;
  plan->token_ids.resize(c);
  plan->weights.resize(c);

  plan->has_token_view = token_view;
  if (token_view) {
    plan->token_offsets.resize(T + 1);
    plan->token_experts.resize(c);
    plan->token_weights.resize(c);
    plan->token_offsets[0] = 0;
    for (int64_t t = 0; t < T; ++t)
      plan->token_offsets[t + 1] = plan->token_offsets[t] + plan->token_counts[t];
  } else {
    plan->token_offsets.clear();
    plan->token_experts.clear();
    plan->token_weights.clear();
  }

  std::vector<int64_t> cursor(plan->expert_offsets.begin(), plan->expert_offsets.end() - 1);
  for (int64_t t = 0; t < T; ++t) {
    if (plan->token_counts[t] == 0) continue;
    const uint8_t* sel = selected + t * N;
    const float* row = scores + t * N;
    // Sums in double: the normalised weights then carry one f32 rounding.
    double denom = 1.0;
    if (norm == GateNorm::kSelected) {
      denom = 0.0;
      for (int64_t e = 0; e < N; ++e)
        if (sel[e]) denom += row[e];
    } else if (norm == GateNorm::kAll) {
      denom = 0.0;
      for (int64_t e = 0; e < N; ++e) denom += row[e];
    }
    // A zero sum (every score underflowed) leaves the weights unnormalised
    // rather than dividing by zero.
    const bool divide = norm != GateNorm::kNone && denom > 0.0;
    int64_t tv = token_view ? plan->token_offsets[t] : 0;
    for (int64_t e = 0; e < N; ++e) {
      if (!sel[e]) continue;
      const float w = divide ? static_cast<float>(row[e] / denom) : row[e];
      const int64_t slot = cursor[e]++;
      plan->token_ids[slot] = t;
      plan->weights[slot] = w;
      if (token_view) {
        plan->token_experts[tv] = e;
        plan->token_weights[tv] = w;
        ++tv;
      }
    }
  }
}

}  // namespace usmoe
