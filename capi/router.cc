// usmoe_router: configuration, creation and usmoe_route.
#include <cmath>
#include <cstring>
#include <utility>

#include "capi/args.h"
#include "capi/error.h"
#include "capi/handles.h"
#include "src/gate/logits.h"

namespace usmoe {
namespace {

usmoe_status CheckRouterConfig(const char* fn, const usmoe_router_config* c) {
  if (c->struct_size != static_cast<int64_t>(sizeof(usmoe_router_config)))
    return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                "%s: config->struct_size = %lld, expected sizeof(usmoe_router_config) = %zu "
                "(call usmoe_router_config_init)",
                fn, static_cast<long long>(c->struct_size), sizeof(usmoe_router_config));
  if (usmoe_status s = CheckSize(fn, "config->num_experts", c->num_experts)) return s;
  if (usmoe_status s = CheckSize(fn, "config->dim", c->dim)) return s;
  int64_t cells;
  if (usmoe_status s = CheckProduct(fn, "the gate weight", c->num_experts, c->dim, &cells))
    return s;
  if (c->policy < USMOE_POLICY_TOKEN_CHOICE || c->policy > USMOE_POLICY_UNIFIED)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->policy = %d is not a usmoe_policy",
                fn, c->policy);
  if (c->dtype != USMOE_DTYPE_F32 && c->dtype != USMOE_DTYPE_BF16)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->dtype = %d is not a usmoe_dtype", fn,
                c->dtype);
  if (c->expert_score != USMOE_EXPERT_SCORE_SIGMOID &&
      c->expert_score != USMOE_EXPERT_SCORE_SOFTMAX_TOKENS)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                "%s: config->expert_score = %d is not a usmoe_expert_score", fn,
                c->expert_score);
  if (c->gate_norm < USMOE_GATE_NORM_NONE || c->gate_norm > USMOE_GATE_NORM_ALL)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                "%s: config->gate_norm = %d is not a usmoe_gate_norm", fn, c->gate_norm);
  if (!(c->alpha >= 0.0 && c->alpha <= 1.0))
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->alpha = %g, expected in [0, 1]", fn,
                c->alpha);
  const double n = static_cast<double>(c->num_experts);
  if (!std::isfinite(c->k))
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->k = %g is not finite", fn, c->k);
  switch (c->policy) {
    case USMOE_POLICY_TOKEN_CHOICE:
      if (c->k != std::floor(c->k))
        return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                    "%s: config->k = %g is fractional; TOKEN_CHOICE takes an integer k in "
                    "[1, num_experts] (use UNIFIED for a fractional budget)",
                    fn, c->k);
      if (c->k < 1.0 || c->k > n)
        return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                    "%s: config->k = %g, expected an integer in [1, num_experts = %lld]", fn,
                    c->k, static_cast<long long>(c->num_experts));
      break;
    case USMOE_POLICY_EXPERT_CHOICE:
      if (!(c->k > 0.0 && c->k <= n))
        return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                    "%s: config->k = %g, expected in (0, num_experts = %lld] for EXPERT_CHOICE",
                    fn, c->k, static_cast<long long>(c->num_experts));
      if (!(std::isfinite(c->capacity_factor) && c->capacity_factor > 0.0))
        return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                    "%s: config->capacity_factor = %g, expected a finite value > 0", fn,
                    c->capacity_factor);
      break;
    default:
      if (!(c->k >= 0.0 && c->k <= n))
        return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                    "%s: config->k = %g, expected in [0, num_experts = %lld] for UNIFIED", fn,
                    c->k, static_cast<long long>(c->num_experts));
      break;
  }
  return USMOE_STATUS_SUCCESS;
}

RouterSpec SpecOf(const usmoe_router_config& c) {
  RouterSpec s;
  s.num_experts = c.num_experts;
  s.dim = c.dim;
  s.policy = static_cast<Policy>(c.policy);
  s.bf16 = c.dtype == USMOE_DTYPE_BF16;
  s.k = c.k;
  s.alpha = c.alpha;
  s.capacity_factor = c.capacity_factor;
  s.softmax_tokens = c.expert_score == USMOE_EXPERT_SCORE_SOFTMAX_TOKENS;
  s.gate_norm = static_cast<GateNorm>(c.gate_norm);
  s.keep_scores = c.keep_scores != 0;
  s.token_view = c.token_view != 0;
  return s;
}

}  // namespace
}  // namespace usmoe

extern "C" {

USMOE_API usmoe_status usmoe_router_config_init(usmoe_router_config* config,
                                                usmoe_policy policy) {
  if (!config)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "usmoe_router_config_init: config is NULL");
  if (policy < USMOE_POLICY_TOKEN_CHOICE || policy > USMOE_POLICY_UNIFIED)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                       "usmoe_router_config_init: policy = %d is not a usmoe_policy", policy);
  usmoe_router_config c;
  std::memset(&c, 0, sizeof(c));
  c.struct_size = sizeof(c);
  c.num_experts = 0;
  c.dim = 0;
  c.policy = policy;
  c.dtype = USMOE_DTYPE_F32;
  c.k = 8.0;
  c.alpha = policy == USMOE_POLICY_UNIFIED ? 0.5 : 0.0;
  c.capacity_factor = 1.0;
  c.expert_score = USMOE_EXPERT_SCORE_SIGMOID;
  c.gate_norm = USMOE_GATE_NORM_NONE;
  c.keep_scores = 0;
  c.token_view = 0;
  *config = c;
  return usmoe::Succeed();
}

USMOE_API usmoe_status usmoe_router_create(const usmoe_router_config* config,
                                           const void* gate_weight, usmoe_router** router) {
  static const char* fn = "usmoe_router_create";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    if (!config) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config is NULL", fn);
    if (!gate_weight)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: gate_weight is NULL", fn);
    if (!router) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: router is NULL", fn);
    if (usmoe_status s = usmoe::CheckRouterConfig(fn, config)) return s;
    const int64_t n = config->num_experts, d = config->dim;
    auto r = std::make_unique<usmoe_router>();
    r->config = *config;
    r->spec = usmoe::SpecOf(*config);
    if (config->dtype == USMOE_DTYPE_BF16) {
      const auto* w = static_cast<const uint16_t*>(gate_weight);
      if (usmoe_status s =
              usmoe::CheckFiniteBf16(fn, "gate_weight", w, n, d, "expert", "feature"))
        return s;
      r->weight_bf16.resize(usmoe::PackedBf16PairsSize(n, d));
      usmoe::PackBf16Pairs(w, n, d, r->weight_bf16.data());
    } else {
      const float* wf = static_cast<const float*>(gate_weight);
      if (usmoe_status s = usmoe::CheckFinite(fn, "gate_weight", wf, n, d, "expert", "feature"))
        return s;
      r->weight.resize(usmoe::PackedGateSize(n, d));
      usmoe::PackGateWeight(wf, n, d, r->weight.data());
    }
    *router = r.release();
    return usmoe::Succeed();
  });
}

USMOE_API void usmoe_router_destroy(usmoe_router* router) {
  if (!router || router->magic != kRouterMagic) return;
  router->magic = 0;
  delete router;
}

USMOE_API usmoe_status usmoe_router_get_config(const usmoe_router* router,
                                               usmoe_router_config* config) {
  static const char* fn = "usmoe_router_get_config";
  if (usmoe_status s = usmoe::CheckHandle(fn, "router", "usmoe_router", router)) return s;
  if (!config) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config is NULL", fn);
  if (config->struct_size != static_cast<int64_t>(sizeof(usmoe_router_config)))
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                       "%s: config->struct_size = %lld, expected %zu", fn,
                       static_cast<long long>(config->struct_size), sizeof(usmoe_router_config));
  *config = router->config;
  return usmoe::Succeed();
}

USMOE_API usmoe_status usmoe_route(const usmoe_router* router, const void* x,
                                   int64_t num_tokens, const int64_t* group_sizes,
                                   int64_t num_groups, const uint8_t* valid_mask,
                                   usmoe_plan* plan) {
  static const char* fn = "usmoe_route";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    if (usmoe_status s = usmoe::CheckHandle(fn, "router", "usmoe_router", router)) return s;
    if (!x) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: x is NULL", fn);
    if (usmoe_status s = usmoe::CheckHandle(fn, "plan", "usmoe_plan", plan)) return s;
    if (usmoe_status s = usmoe::CheckSize(fn, "num_tokens", num_tokens)) return s;
    const usmoe::RouterSpec& spec = router->spec;
    int64_t cells;
    if (usmoe_status s = usmoe::CheckProduct(fn, "x", num_tokens, spec.dim, &cells)) return s;
    if (usmoe_status s = usmoe::CheckProduct(fn, "the scores", num_tokens, spec.num_experts, &cells))
      return s;
    std::vector<int64_t> offsets;
    if (usmoe_status s = usmoe::ParseGroups(fn, group_sizes, num_groups, num_tokens, &offsets))
      return s;
    const int64_t groups = static_cast<int64_t>(offsets.size()) - 1;
    const usmoe::NonFiniteAt bad =
        usmoe::RoutePipeline(spec,
                             spec.bf16 ? static_cast<const void*>(router->weight_bf16.data())
                                       : static_cast<const void*>(router->weight.data()),
                             x, num_tokens, offsets.data(), groups,
                             valid_mask, &plan->scratch, &plan->spare);
    if (bad.kind == 1)
      return usmoe::Fail(USMOE_STATUS_NON_FINITE_INPUT,
                         "%s: x[%lld][%lld] is NaN or Inf (token %lld, feature %lld)", fn,
                         static_cast<long long>(bad.row), static_cast<long long>(bad.col),
                         static_cast<long long>(bad.row), static_cast<long long>(bad.col));
    if (bad.kind == 2)
      return usmoe::Fail(USMOE_STATUS_NON_FINITE_INPUT,
                         "%s: logits[%lld][%lld] = x·w overflows f32 to Inf/NaN "
                         "(token %lld, expert %lld)",
                         fn, static_cast<long long>(bad.row), static_cast<long long>(bad.col),
                         static_cast<long long>(bad.row), static_cast<long long>(bad.col));
    std::swap(plan->current, plan->spare);
    return usmoe::Succeed();
  });
}

}  // extern "C"
