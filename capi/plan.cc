// usmoe_plan: creation, destruction and the read-only view.
#include <cstddef>
#include <cstring>

#include "capi/error.h"
#include "capi/handles.h"

extern "C" {

USMOE_API usmoe_status usmoe_plan_create(usmoe_plan** plan) {
  static const char* fn = "usmoe_plan_create";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    if (!plan) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "usmoe_plan_create: plan is NULL");
    *plan = new usmoe_plan();
    return usmoe::Succeed();
  });
}

USMOE_API void usmoe_plan_destroy(usmoe_plan* plan) {
  if (!plan || plan->magic != kPlanMagic) return;
  plan->magic = 0;
  delete plan;
}

USMOE_API usmoe_status usmoe_plan_get_view(const usmoe_plan* plan, usmoe_plan_view* view) {
  if (usmoe_status s = usmoe::CheckHandle("usmoe_plan_get_view", "plan", "usmoe_plan", plan))
    return s;
  if (!view) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "usmoe_plan_get_view: view is NULL");
  constexpr int64_t kMinSize = offsetof(usmoe_plan_view, token_counts) + sizeof(void*);
  const int64_t size = view->struct_size;
  if (size < kMinSize || size > static_cast<int64_t>(sizeof(usmoe_plan_view)))
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                       "usmoe_plan_get_view: view->struct_size = %lld, expected %lld..%lld "
                       "(set it to sizeof(usmoe_plan_view))",
                       static_cast<long long>(size), static_cast<long long>(kMinSize),
                       static_cast<long long>(sizeof(usmoe_plan_view)));
  const usmoe::PlanData& p = plan->current;
  usmoe_plan_view v;
  v.struct_size = size;
  v.num_tokens = p.num_tokens;
  v.num_experts = p.num_experts;
  v.num_selected = p.num_selected;
  v.expert_offsets = p.expert_offsets.empty() ? nullptr : p.expert_offsets.data();
  v.token_ids = p.token_ids.data();
  v.weights = p.weights.data();
  v.token_counts = p.token_counts.data();
  v.expert_loads = p.expert_loads.data();
  v.scores = p.has_scores ? p.scores.data() : nullptr;
  v.token_offsets = p.has_token_view ? p.token_offsets.data() : nullptr;
  v.token_experts = p.has_token_view ? p.token_experts.data() : nullptr;
  v.token_weights = p.has_token_view ? p.token_weights.data() : nullptr;
  std::memcpy(view, &v, static_cast<size_t>(size));
  return usmoe::Succeed();
}

}  // extern "C"
