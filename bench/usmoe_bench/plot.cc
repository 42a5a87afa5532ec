// usmoe-bench --plot (see plot.h).
#include "plot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "usmoe/usmoe.h"
#include "router_setup.h"
#include "workloads.h"

#ifndef USMOE_BENCH_SOURCE_DIR
#define USMOE_BENCH_SOURCE_DIR "."
#endif

namespace usmoe_bench {
namespace {

// The g×N 0/1 mask of one policy's routing of wl.
std::string RouteMask(const Options& o, const Workload& wl, usmoe_policy policy,
                      std::vector<uint8_t>* mask) {
  usmoe_router* router = nullptr;
  usmoe_plan* plan = nullptr;
  std::string err = CreateRouterAndPlan(o, wl, policy, &router, &plan);
  if (err.empty()) {
    usmoe_status st = usmoe_route(router, wl.x_ptr(), wl.T, nullptr, 0, nullptr, plan);
    usmoe_plan_view v;
    std::memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    if (st == USMOE_STATUS_SUCCESS) st = usmoe_plan_get_view(plan, &v);
    if (st == USMOE_STATUS_SUCCESS) {
      mask->assign(size_t(wl.T * wl.N), 0);
      for (int64_t e = 0; e < wl.N; ++e)
        for (int64_t i = v.expert_offsets[e]; i < v.expert_offsets[e + 1]; ++i)
          (*mask)[size_t(v.token_ids[i] * wl.N + e)] = 1;
    } else {
      err = "usmoe_route: " + StatusMessage(st);
    }
  }
  usmoe_plan_destroy(plan);
  usmoe_router_destroy(router);
  return err;
}

}  // namespace

std::string WriteAssignment(const std::string& dir, const Options& o) {
  Options og = o;
  og.tokens = std::min<int64_t>(64, o.TokensFor(o.stage == "moe" ? "moe" : "route").back());
  og.groups = 1;
  const Workload wl = MakeWorkload(og);
  std::string json = "{\n  \"T\": " + std::to_string(wl.T) + ", \"N\": " + std::to_string(wl.N) +
                     ", \"k\": " + std::to_string(o.k);
  const usmoe_policy policies[] = {USMOE_POLICY_TOKEN_CHOICE, USMOE_POLICY_UNIFIED};
  for (usmoe_policy p : policies) {
    if (p == USMOE_POLICY_TOKEN_CHOICE && o.k != std::floor(o.k)) continue;
    std::vector<uint8_t> mask;
    std::string err = RouteMask(og, wl, p, &mask);
    if (!err.empty()) return err;
    json += std::string(",\n  \"") + PolicyName(p) + "\": {\"alpha\": " +
            std::to_string(PolicyAlpha(og, p)) + ", \"mask\": [";
    for (int64_t t = 0; t < wl.T; ++t) {
      json += t ? ",\n    [" : "\n    [";
      for (int64_t e = 0; e < wl.N; ++e)
        json += std::string(e ? "," : "") + (mask[size_t(t * wl.N + e)] ? "1" : "0");
      json += "]";
    }
    json += "]}";
  }
  json += "\n}\n";
  const std::string path = dir + "/assignment.json";
  std::ofstream f(path);
  f << json;
  return f ? "" : "cannot write " + path;
}

std::string RunPlotScript(const std::string& dir) {
  const char* env = std::getenv("USMOE_PLOT_SCRIPT");
  const std::string script = env && *env ? std::string(env)
                                         : std::string(USMOE_BENCH_SOURCE_DIR) + "/bench/plot/usmoe_plot.py";
  if (access("/usr/bin/python3", X_OK) != 0) return "--plot needs /usr/bin/python3";
  if (access(script.c_str(), R_OK) != 0) return "--plot: no " + script;
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + dir + "'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return "--plot: usmoe_plot.py exited with " + std::to_string(code) +
           (code == 3 ? " (matplotlib missing: apt-get install python3-matplotlib)" : "");
  }
  return "";
}

}  // namespace usmoe_bench
