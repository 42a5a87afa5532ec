// usmoe-bench: router setup shared by the stages (see router_setup.h).
#include "router_setup.h"

namespace usmoe_bench {

std::string StatusMessage(usmoe_status st) {
  std::string msg = usmoe_status_string(st);
  const char* detail = usmoe_last_error();
  if (detail && *detail) msg += std::string(": ") + detail;
  return msg;
}

std::string CreateRouterAndPlan(const Options& o, const Workload& wl, usmoe_policy policy,
                                usmoe_router** router, usmoe_plan** plan) {
  *router = nullptr;
  *plan = nullptr;
  usmoe_router_config cfg;
  usmoe_status st = usmoe_router_config_init(&cfg, policy);
  if (st == USMOE_STATUS_SUCCESS) {
    cfg.num_experts = wl.N;
    cfg.dim = wl.d;
    cfg.k = o.k;
    cfg.alpha = PolicyAlpha(o, policy);
    cfg.dtype = wl.dtype;
    cfg.expert_score = USMOE_EXPERT_SCORE_SIGMOID;
    st = usmoe_router_create(&cfg, wl.w_ptr(), router);
  }
  if (st == USMOE_STATUS_SUCCESS) st = usmoe_plan_create(plan);
  return st == USMOE_STATUS_SUCCESS ? "" : StatusMessage(st);
}

}  // namespace usmoe_bench
