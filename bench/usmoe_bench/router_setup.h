// usmoe-bench: the router every stage routes with, configured one way, and
// the message of a failed usmoe call.
#ifndef USMOE_BENCH_ROUTER_SETUP_H_
#define USMOE_BENCH_ROUTER_SETUP_H_

#include <string>

#include "options.h"
#include "usmoe/usmoe.h"
#include "workloads.h"

namespace usmoe_bench {

// usmoe_status_string(st), then usmoe_last_error()'s detail when there is one.
std::string StatusMessage(usmoe_status st);

// A router for wl (N, d, dtype, W) with o.k, the policy's alpha and the
// sigmoid expert score, and an empty plan. Returns "" or what failed; the
// caller destroys both handles (either may be NULL after a failure).
std::string CreateRouterAndPlan(const Options& o, const Workload& wl, usmoe_policy policy,
                                usmoe_router** router, usmoe_plan** plan);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_ROUTER_SETUP_H_
