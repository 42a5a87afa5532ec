// usmoe-bench: routing throughput of usmoe against baselines measured in the
// same run. Uses only the public C API (usmoe.h), OpenMP, oneDNN and std.
// `usmoe-bench --help` documents flags, stages, inputs and columns.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "baselines.h"
#include "moe_stage.h"
#include "plot.h"
#include "torch_peer.h"
#include "options.h"
#include "report.h"
#include "router_setup.h"

#include <unistd.h>
#include "timing.h"
#include "usmoe/usmoe.h"
#include "workloads.h"

namespace usmoe_bench {
namespace {


std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Only used when usmoe_logits fails, so later stages still get logits.
void FallbackLogits(const Workload& wl, float* L) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < wl.T; ++t)
    for (int64_t e = 0; e < wl.N; ++e) {
      const float* x = wl.x.data() + t * wl.d;
      const float* w = wl.w.data() + e * wl.d;
      double acc = 0;
      for (int64_t j = 0; j < wl.d; ++j) acc += double(x[j]) * double(w[j]);
      L[t * wl.N + e] = static_cast<float>(acc);
    }
}

// Largest |a-b| relative to the largest |b|.
std::string RelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return "max rel diff " + Fmt("%.1e", scale > 0 ? worst / scale : worst);
}

// Cells (t, e) selected in exactly one of two plans given by expert offsets
// and token ids.
int64_t PlanDiff(int64_t T, int64_t N, const int64_t* off_a, const int64_t* tok_a,
                 const int64_t* off_b, const int64_t* tok_b) {
  std::vector<uint8_t> m(size_t(T * N), 0);
  for (int64_t e = 0; e < N; ++e)
    for (int64_t i = off_a[e]; i < off_a[e + 1]; ++i) m[size_t(tok_a[i] * N + e)] ^= 1;
  for (int64_t e = 0; e < N; ++e)
    for (int64_t i = off_b[e]; i < off_b[e + 1]; ++i) m[size_t(tok_b[i] * N + e)] ^= 1;
  int64_t diff = 0;
  for (uint8_t v : m) diff += v;
  return diff;
}

// Cells of usmoe's result that differ from a peer's, both given as index
// lists of equal length sorted the same way; "" when the sizes differ.
std::string SelectionCheck(const std::vector<int64_t>& ours, const std::string& peer_file) {
  std::vector<int64_t> peer;
  if (!ReadFile(peer_file, &peer, ours.size())) return "unreadable peer output";
  int64_t bad = 0;
  for (size_t i = 0; i < ours.size(); ++i) bad += ours[i] != peer[i];
  // torch.topk orders equal scores as it likes; usmoe takes the lower index.
  return bad == 0 ? "same selection"
                  : std::to_string(bad) + " of " + std::to_string(ours.size()) +
                        " differ (tie order)";
}

// Sorts each of `groups` consecutive runs of `len` values ascending.
std::vector<int64_t> SortRuns(std::vector<int64_t> v, size_t len) {
  for (size_t i = 0; i + len <= v.size(); i += len)
    std::sort(v.begin() + long(i), v.begin() + long(i + len));
  return v;
}

struct Run {
  const Options& o;
  const Workload& wl;
  TimingPolicy tp;
  const int64_t* groups_ptr;  // NULL for one group (num_groups 0)
  int64_t num_groups;
  std::vector<Row> rows;
  std::vector<std::string> notes;
  TorchPeers* torch = nullptr;
  size_t row_base = 0;  // index of rows[0] in the final table

  // Queues the torch.topk peer of a select row (one group only).
  void AddTorchSelect(usmoe_policy policy, const std::vector<float>& U, int64_t size_arg,
                      std::vector<int64_t> ours) {
    static const char* kNames[] = {"torch.topk per row", "torch.topk per column",
                                   "torch.topk over flat U (paper)"};
    const int which = policy == USMOE_POLICY_TOKEN_CHOICE ? 0
                      : policy == USMOE_POLICY_EXPERT_CHOICE ? 1 : 2;
    const size_t row = row_base + rows.size();
    if (o.groups > 1) {
      rows.back().peer_name = kNames[which];
      rows.back().peer.error = "skipped (groups > 1)";
      return;
    }
    const std::string pname = PolicyName(policy);
    const std::string path = torch->WriteFloats(
        "U_" + pname + "_" + std::to_string(wl.T) + ".bin", U.data(), int64_t(U.size()));
    const char* arg = which == 0 ? "k" : which == 1 ? "capacity" : "budget";
    const std::string spec = "kind=select policy=" + pname + " T=" + std::to_string(wl.T) +
                             " N=" + std::to_string(wl.N) + " " + arg + "=" +
                             std::to_string(size_arg) + " scores=" + path;
    torch->Add(row - 1, kNames[which], spec,
               [ours = std::move(ours)](const std::string& out) { return SelectionCheck(ours, out); });
  }

  Row NewRow(const std::string& stage, const std::string& policy, Unit unit,
             double work) const {
    Row r;
    r.stage = stage;
    r.policy = policy;
    r.T = wl.T;
    r.N = wl.N;
    r.d = wl.d;
    r.G = o.groups;
    r.k = o.k;
    r.unit = unit;
    r.work = work;
    return r;
  }

  // On a terminal only: piped or redirected output stays clean for tools.
  static void Progress(const std::string& what) {
    static const bool tty = isatty(STDERR_FILENO) != 0;
    if (tty) std::fprintf(stderr, "  measuring %s ...\n", what.c_str());
  }

  // Stage "logits". Fills L (ours, or a fallback when ours fails).
  void Logits(std::vector<float>* L) {
    const int64_t T = wl.T, N = wl.N, d = wl.d;
    Row r = NewRow("logits", "-", Unit::kFlops, 2.0 * double(T) * double(N) * double(d));
    r.base_name = std::string("oneDNN matmul ") + DtypeName(wl.dtype);
    L->assign(size_t(T * N), 0.f);
    Progress("logits");
    Timed ours = [&]() -> std::string {
      usmoe_status st = usmoe_logits(wl.x_ptr(), wl.w_ptr(), wl.dtype, T, N, d, L->data());
      return st == USMOE_STATUS_SUCCESS ? "" : StatusMessage(st);
    };
    std::vector<float> Lb(size_t(T * N), 0.f);
    OnednnGate gate;
    std::string err = gate.Init(T, N, d, wl.dtype, wl.w_ptr(), /*prepack=*/false);
    if (err.empty()) {
      MeasurePair(ours, [&] { return gate.Run(wl.x_ptr(), Lb.data()); }, tp, &r.ours,
                  &r.base);
      if (r.base.ok) r.base_name += " (" + gate.ImplName() + ")";
      if (r.base.ok && r.ours.ok) r.check = RelDiff(*L, Lb);
    } else {
      r.ours = Measure(ours, tp);
      r.base.error = err;
    }
    if (!r.ours.ok) FallbackLogits(wl, L->data());
    rows.push_back(r);
  }

  // Inputs of --stage select, not measured: L by usmoe_logits, U by
  // usmoe_scores (the scalar fallbacks if those fail).
  void LogitsUntimed(std::vector<float>* L) {
    L->assign(size_t(wl.T * wl.N), 0.f);
    if (usmoe_logits(wl.x_ptr(), wl.w_ptr(), wl.dtype, wl.T, wl.N, wl.d, L->data()) !=
        USMOE_STATUS_SUCCESS)
      FallbackLogits(wl, L->data());
  }
  void ScoresUntimed(usmoe_policy policy, const std::vector<float>& L, std::vector<float>* U) {
    U->assign(size_t(wl.T * wl.N), 0.f);
    const double alpha = PolicyAlpha(o, policy);
    if (usmoe_scores(L.data(), wl.T, wl.N, alpha, USMOE_EXPERT_SCORE_SIGMOID, groups_ptr,
                     num_groups, nullptr, U->data()) != USMOE_STATUS_SUCCESS)
      BaselineScores(L.data(), wl.T, wl.N, alpha, U->data());
  }

  // Stage "scores" for one policy's alpha. Fills U.
  void Scores(usmoe_policy policy, const std::vector<float>& L, std::vector<float>* U) {
    const int64_t T = wl.T, N = wl.N;
    const double alpha = PolicyAlpha(o, policy);
    Row r = NewRow("scores", PolicyName(policy), Unit::kCells, double(T) * double(N));
    r.base_name = "scalar std::exp (alpha " + Fmt("%g", alpha) + ")";
    U->assign(size_t(T * N), 0.f);
    std::vector<float> Ub(size_t(T * N), 0.f);
    Progress(std::string("scores/") + PolicyName(policy));
    MeasurePair(
        [&]() -> std::string {
          usmoe_status st = usmoe_scores(L.data(), T, N, alpha, USMOE_EXPERT_SCORE_SIGMOID,
                                         groups_ptr, num_groups, nullptr, U->data());
          return st == USMOE_STATUS_SUCCESS ? "" : StatusMessage(st);
        },
        [&] {
          BaselineScores(L.data(), T, N, alpha, Ub.data());
          return std::string();
        },
        tp, &r.ours, &r.base);
    if (r.ours.ok) r.check = RelDiff(*U, Ub);
    else *U = Ub;
    rows.push_back(r);
  }

  // Stage "select" on precomputed scores U.
  void Select(usmoe_policy policy, const std::vector<float>& U) {
    const int64_t T = wl.T, N = wl.N;
    Row r = NewRow("select", PolicyName(policy), Unit::kCells, double(T) * double(N));
    Progress(std::string("select/") + PolicyName(policy));
    if (policy == USMOE_POLICY_TOKEN_CHOICE) {
      r.base_name = "std::partial_sort per row";
      if (o.k != std::floor(o.k)) {
        r.ours.error = r.base.error = "skipped (tc needs an integer k)";
        rows.push_back(r);
        return;
      }
      const int64_t k = static_cast<int64_t>(o.k);
      std::vector<int64_t> ids(size_t(T * k)), ids_b(size_t(T * k));
      std::vector<float> vals(size_t(T * k)), vals_b(size_t(T * k));
      MeasurePair(
          [&]() -> std::string {
            usmoe_status st = usmoe_topk_rows(U.data(), T, N, k, ids.data(), vals.data());
            return st == USMOE_STATUS_SUCCESS ? "" : StatusMessage(st);
          },
          [&] {
            BaselineTopkRows(U.data(), T, N, k, ids_b.data(), vals_b.data());
            return std::string();
          },
          tp, &r.ours, &r.base);
      if (r.ours.ok) {
        int64_t bad = 0;
        for (size_t i = 0; i < ids.size(); ++i)
          bad += (ids[i] != ids_b[i] || vals[i] != vals_b[i]);
        r.check = bad == 0 ? "identical" : "MISMATCH " + std::to_string(bad) + " cells";
      }
      rows.push_back(r);
      if (r.ours.ok) AddTorchSelect(policy, U, k, SortRuns(ids, size_t(k)));
      return;
    } else if (policy == USMOE_POLICY_EXPERT_CHOICE) {
      r.base_name = "std::nth_element per column";
      const size_t G = wl.group_sizes.size();
      std::vector<std::vector<int64_t>> ids(G), ids_b(G);
      std::vector<std::vector<float>> vals(G), vals_b(G);
      std::vector<int64_t> cap(G);
      for (size_t g = 0; g < G; ++g) {
        cap[g] = EcCapacity(o.k, wl.group_sizes[g], N);
        ids[g].resize(size_t(N * cap[g]));
        ids_b[g].resize(size_t(N * cap[g]));
        vals[g].resize(size_t(N * cap[g]));
        vals_b[g].resize(size_t(N * cap[g]));
      }
      MeasurePair(
          [&]() -> std::string {
            for (size_t g = 0; g < G; ++g) {
              usmoe_status st = usmoe_topc_cols(U.data() + wl.group_starts[g] * N,
                                                wl.group_sizes[g], N, cap[g],
                                                ids[g].data(), vals[g].data());
              if (st != USMOE_STATUS_SUCCESS) return StatusMessage(st);
            }
            return std::string();
          },
          [&] {
            for (size_t g = 0; g < G; ++g)
              BaselineTopcCols(U.data() + wl.group_starts[g] * N, wl.group_sizes[g], N,
                               cap[g], ids_b[g].data(), vals_b[g].data());
            return std::string();
          },
          tp, &r.ours, &r.base);
      if (r.ours.ok) {
        int64_t bad = 0;
        for (size_t g = 0; g < G; ++g)
          for (size_t i = 0; i < ids[g].size(); ++i)
            bad += (ids[g][i] != ids_b[g][i] || vals[g][i] != vals_b[g][i]);
        r.check = bad == 0 ? "identical" : "MISMATCH " + std::to_string(bad) + " cells";
      }
      rows.push_back(r);
      if (r.ours.ok) AddTorchSelect(policy, U, cap[0], SortRuns(ids[0], size_t(cap[0])));
      return;
    } else {
      r.base_name = "std::nth_element per group";
      const size_t G = wl.group_sizes.size();
      std::vector<std::vector<int64_t>> idx(G), idx_b(G);
      std::vector<int64_t> budget(G);
      for (size_t g = 0; g < G; ++g) {
        budget[g] = UnifiedBudget(o.k, wl.group_sizes[g], N);
        idx[g].resize(size_t(std::max<int64_t>(1, budget[g])));
        idx_b[g].resize(size_t(std::max<int64_t>(1, budget[g])));
      }
      MeasurePair(
          [&]() -> std::string {
            for (size_t g = 0; g < G; ++g) {
              usmoe_status st = usmoe_topc_global(U.data() + wl.group_starts[g] * N,
                                                  wl.group_sizes[g] * N, budget[g],
                                                  idx[g].data(), int64_t(idx[g].size()));
              if (st != USMOE_STATUS_SUCCESS) return StatusMessage(st);
            }
            return std::string();
          },
          // One group per thread: the plain way to use threads here.
          [&] {
#pragma omp parallel for schedule(dynamic, 1) if (G > 1 && T * N >= (1 << 16))
            for (size_t g = 0; g < G; ++g)
              BaselineTopcGlobal(U.data() + wl.group_starts[g] * N, wl.group_sizes[g] * N,
                                 budget[g], idx_b[g].data());
            return std::string();
          },
          tp, &r.ours, &r.base);
      if (r.ours.ok) {
        int64_t bad = 0;
        for (size_t g = 0; g < G; ++g)
          for (int64_t i = 0; i < budget[g]; ++i)
            bad += idx[g][size_t(i)] != idx_b[g][size_t(i)];
        r.check = bad == 0 ? "identical" : "MISMATCH " + std::to_string(bad) + " cells";
      }
      rows.push_back(r);
      if (r.ours.ok) {
        std::vector<int64_t> ours(idx[0].begin(), idx[0].begin() + budget[0]);
        AddTorchSelect(policy, U, budget[0], std::move(ours));
      }
      return;
    }
    rows.push_back(r);
  }

  // Stage "route": X -> plan through a router.
  void Route(usmoe_policy policy) {
    const int64_t T = wl.T, N = wl.N, d = wl.d;
    const double alpha = PolicyAlpha(o, policy);
    Row r = NewRow("route", PolicyName(policy), Unit::kTokens, double(T));
    r.base_name = "oneDNN + scalar scores + std select + plan";
    Progress(std::string("route/") + PolicyName(policy));
    if (policy == USMOE_POLICY_TOKEN_CHOICE && o.k != std::floor(o.k)) {
      r.ours.error = r.base.error = "skipped (tc needs an integer k)";
      rows.push_back(r);
      return;
    }

    usmoe_router* router = nullptr;
    usmoe_plan* plan = nullptr;
    const std::string create_error = CreateRouterAndPlan(o, wl, policy, &router, &plan);
    Timed ours = [&]() -> std::string {
      if (!create_error.empty()) return create_error;
      usmoe_status s2 = usmoe_route(router, wl.x_ptr(), T, groups_ptr, num_groups,
                                    nullptr, plan);
      return s2 == USMOE_STATUS_SUCCESS ? "" : StatusMessage(s2);
    };

    {
      OnednnGate gate;
      std::string err = gate.Init(T, N, d, wl.dtype, wl.w_ptr(), /*prepack=*/true);
      if (!err.empty()) {
        r.ours = Measure(ours, tp);
        r.base.error = err;
      } else {
        std::vector<float> L(size_t(T * N)), U(size_t(T * N));
        SelectScratch scratch;
        BasePlan bplan;
        MeasurePair(
            ours,
            [&]() -> std::string {
              std::string e = gate.Run(wl.x_ptr(), L.data());
              if (!e.empty()) return e;
              BaselineScores(L.data(), T, N, alpha, U.data());
              BaselineSelectAndPlan(U.data(), T, N, policy, o.k, wl.group_sizes, &scratch,
                                    &bplan);
              return std::string();
            },
            tp, &r.ours, &r.base);
        if (r.base.ok && r.ours.ok) {
          usmoe_plan_view v;
          std::memset(&v, 0, sizeof v);
          v.struct_size = sizeof v;
          if (usmoe_plan_get_view(plan, &v) == USMOE_STATUS_SUCCESS) {
            int64_t diff = PlanDiff(T, N, v.expert_offsets, v.token_ids,
                                    bplan.offsets.data(), bplan.token_ids.data());
            // The two pipelines compute scores with different exp()s, so a
            // near-tie at the selection threshold may fall either way.
            r.check = diff == 0 ? "same plan"
                                : std::to_string(diff) + " of " +
                                      std::to_string(v.num_selected) + " cells differ";
          }
        }
      }
    }
    if (r.ours.ok) {
      usmoe_plan_view v;
      std::memset(&v, 0, sizeof v);
      v.struct_size = sizeof v;
      if (usmoe_plan_get_view(plan, &v) == USMOE_STATUS_SUCCESS && v.num_experts > 0) {
        int64_t maxload = 0, zero = 0, maxcount = 0;
        for (int64_t e = 0; e < v.num_experts; ++e)
          maxload = std::max(maxload, v.expert_offsets[e + 1] - v.expert_offsets[e]);
        for (int64_t t = 0; t < v.num_tokens; ++t) {
          zero += v.token_counts[t] == 0;
          maxcount = std::max(maxcount, v.token_counts[t]);
        }
        double mean = double(v.num_selected) / double(v.num_experts);
        notes.push_back(std::string(PolicyName(policy)) + ": " +
                        std::to_string(v.num_selected) + " cells, expert load max/mean " +
                        Fmt("%.2f", mean > 0 ? double(maxload) / mean : 0.0) +
                        ", tokens with 0 experts " + std::to_string(zero) +
                        ", max experts per token " + std::to_string(maxcount));
      }
    }
    usmoe_plan_destroy(plan);
    usmoe_router_destroy(router);
    rows.push_back(r);
  }
};

std::string BuildType() {
  std::string s;
#ifdef NDEBUG
  s = "release (NDEBUG";
#else
  s = "debug (assertions on";
#endif
#ifdef __OPTIMIZE__
  s += ", optimized)";
#else
  s += ", not optimized)";
#endif
  return s;
}

// What AUTO resolves to, by the library's rule (usmoe.h, usmoe_backend):
// HIGHWAY, except bf16 weights on a CPU without AVX512_BF16 where ONEDNN
// is built in.
std::string AutoBackendNote(const Options& o) {
  if (o.backend != USMOE_BACKEND_AUTO) return "";
#if defined(__x86_64__) || defined(__i386__)
  const bool bf16_dot = __builtin_cpu_supports("avx512bf16");
#else
  const bool bf16_dot = false;
#endif
  const bool onednn = o.dtype == USMOE_DTYPE_BF16 && !bf16_dot && OnednnGate::Available();
  return onednn ? " (= onednn: bf16 without AVX512_BF16)" : " (= highway)";
}

}  // namespace

int Main(int argc, char** argv) {
  Options o;
  int rc = ParseOptions(argc, argv, &o);
  if (rc == 1) return 0;
  if (rc != 0) return 2;

  if (o.threads > 0) {
    usmoe_status st = usmoe_set_num_threads(o.threads);
    if (st != USMOE_STATUS_SUCCESS) {
      std::fprintf(stderr, "usmoe_set_num_threads(%d): %s\n", o.threads,
                   StatusMessage(st).c_str());
      return 2;
    }
    omp_set_num_threads(o.threads);
  }

  int32_t threads = 0;
  usmoe_get_num_threads(&threads);
  const char* target = "?";
  usmoe_simd_target_name(&target);
  const int32_t ver = usmoe_version();

  Context ctx;
  ctx.push_back({"usmoe", std::to_string(ver / 10000) + "." + std::to_string(ver / 100 % 100) +
                              "." + std::to_string(ver % 100) + " (usmoe_version " +
                              std::to_string(ver) + ")"});
  ctx.push_back({"simd_target", target ? target : "?"});
  ctx.push_back({"threads", std::to_string(threads) + " usmoe, " +
                                std::to_string(omp_get_max_threads()) +
                                " OpenMP (baselines, oneDNN)"});
  ctx.push_back({"cpu", CpuModel()});
  ctx.push_back({"build_type", BuildType()});
  ctx.push_back({"onednn", OnednnGate::Available() ? OnednnGate::Version() : "not built in"});
  ctx.push_back({"preset", o.preset});
  ctx.push_back({"dtype", DtypeName(o.dtype)});
  const bool moe_stage = o.stage == "moe" || o.stage == "all";
  if (moe_stage) {
    const char* names[] = {"auto", "highway", "onednn"};
    ctx.push_back({"moe", std::string("f=") + std::to_string(o.hidden) + ", shared " +
                              std::to_string(o.shared) + " x " + std::to_string(o.shared_hidden) +
                              ", backend " + names[o.backend] + AutoBackendNote(o)});
  }
  ctx.push_back({"groups", std::to_string(o.groups) + " (equal sizes)"});
  std::string alphas;
  for (usmoe_policy p : o.policies)
    alphas += std::string(alphas.empty() ? "" : ", ") + PolicyName(p) + " " +
              Fmt("%g", PolicyAlpha(o, p));
  ctx.push_back({"alpha", alphas + " (expert score sigmoid*2/N)"});
  ctx.push_back({"inputs", std::string(o.iid ? "iid: W ~ N(0,1)" :
                                       "skewed: W[e] = max(0.1, 1+0.5 z_e) * N(0,I)") +
                               ", X ~ N(0,1)/sqrt(d), seed " + std::to_string(o.seed)});
  ctx.push_back({"method", "1 warm-up, then >= " + Fmt("%g", o.min_time) + " s and >= " +
                               std::to_string(o.min_runs) +
                               " runs per cell, interleaved with the baseline; "
                               "median/min/max of wall time"});
  // Physical limits of this machine at this thread count, measured now.
  const Limits limits = ProbeLimits(threads);
  SetLimits(limits);
  char probed[192];
  if (limits.bf16_gflops > 0)
    std::snprintf(probed, sizeof(probed),
                  "f32 FMA peak %.1f GFLOP/s, bf16 dot peak %.1f GFLOP/s, DRAM read %.1f GB/s "
                  "(probed, %d threads)",
                  limits.fma_gflops, limits.bf16_gflops, limits.dram_gbps, limits.threads);
  else
    std::snprintf(probed, sizeof(probed),
                  "f32 FMA peak %.1f GFLOP/s, DRAM read %.1f GB/s (probed, %d threads)",
                  limits.fma_gflops, limits.dram_gbps, limits.threads);
  ctx.push_back({"limits", probed});
  PrintHeader(ctx);
  std::fflush(stdout);

  std::vector<Row> rows;
  std::vector<std::string> notes;
  std::string peer_label;
  if (o.stage != "moe") {
    TorchPeers torch(o);
    for (int64_t T : o.TokensFor("route")) {
      Options ot = o;
      ot.tokens = T;
      Workload wl = MakeWorkload(ot);
      Run run{ot, wl, TimingPolicy{o.min_time, o.min_runs},
              o.groups > 1 ? wl.group_sizes.data() : nullptr, o.groups > 1 ? o.groups : 0,
              {}, {}};
      run.torch = &torch;
      run.row_base = rows.size();
      // route/all: every routing row; select: only scores -> plan (inputs
      // computed untimed); plan: only X -> plan.
      const bool every = o.stage == "route" || o.stage == "all";
      const bool select_only = o.stage == "select";
      std::vector<float> L, U;
      if (every) run.Logits(&L);
      if (select_only) run.LogitsUntimed(&L);
      for (usmoe_policy p : o.policies) {
        if (every) run.Scores(p, L, &U);
        if (select_only) run.ScoresUntimed(p, L, &U);
        if (every || select_only) run.Select(p, U);
        if (every || o.stage == "plan") run.Route(p);
      }
      rows.insert(rows.end(), run.rows.begin(), run.rows.end());
      notes.insert(notes.end(), run.notes.begin(), run.notes.end());
    }
    Run::Progress("torch peers (route stage)");
    torch.RunAll(&rows);
    if (!torch.label().empty()) peer_label = torch.label();
  }
  if (moe_stage) {
    Run::Progress("moe weights");
    const MoeWeights mw = MakeMoeWeights(o);
    usmoe_experts_config ecfg;
    usmoe_experts* experts = nullptr;
    usmoe_status st = usmoe_experts_config_init(&ecfg);
    if (st == USMOE_STATUS_SUCCESS) {
      ecfg.num_experts = mw.N;
      ecfg.dim = mw.d;
      ecfg.hidden = mw.f;
      ecfg.dtype = mw.dtype;
      ecfg.num_shared = mw.S;
      ecfg.shared_hidden = mw.fs;
      ecfg.backend = o.backend;
      st = usmoe_experts_create(&ecfg, mw.Ptr(mw.w1, mw.w1b), mw.Ptr(mw.w3, mw.w3b),
                                mw.Ptr(mw.w2, mw.w2b), mw.Ptr(mw.sw1, mw.sw1b),
                                mw.Ptr(mw.sw3, mw.sw3b), mw.Ptr(mw.sw2, mw.sw2b), &experts);
    }
    if (st != USMOE_STATUS_SUCCESS) {
      std::fprintf(stderr, "usmoe_experts_create: %s\n", StatusMessage(st).c_str());
      return 1;
    }

    TorchPeers torch(o);
    // The expert weights go to the peer once, as f32 values (bf16-rounded
    // for bf16: the peer converts them back exactly).
    std::string wfiles;
    if (torch.enabled()) {
      const std::pair<const char*, const std::vector<float>*> parts[] = {
          {"w1", &mw.w1}, {"w3", &mw.w3}, {"w2", &mw.w2},
          {"sw1", &mw.sw1}, {"sw3", &mw.sw3}, {"sw2", &mw.sw2}};
      for (const auto& p : parts) {
        if (p.second->empty()) continue;
        const std::string path = torch.WriteFloats(std::string(p.first) + ".bin", p.second->data(),
                                                   int64_t(p.second->size()));
        wfiles += std::string(" ") + p.first + "=" + path;
      }
    }
    for (int64_t T : o.TokensFor("moe")) {
      Options ot = o;
      ot.tokens = T;
      ot.groups = 1;
      Workload wl = MakeWorkload(ot);
      std::string xfiles;
      if (torch.enabled())
        xfiles = " x=" + torch.WriteFloats("x_" + std::to_string(T) + ".bin", wl.x.data(),
                                           int64_t(wl.x.size())) +
                 " wg=" + torch.WriteFloats("wg.bin", wl.w.data(), int64_t(wl.w.size()));
      for (usmoe_policy p : o.policies) {
        Run::Progress("moe/" + std::string(PolicyName(p)) + " T=" + std::to_string(T));
        std::vector<float> y;
        rows.push_back(RunMoeStage(ot, wl, mw, experts, p, TimingPolicy{o.min_time, o.min_runs}, &y));
        if (!rows.back().ours.ok) continue;
        char spec[512];
        std::snprintf(spec, sizeof spec,
                      "kind=moe policy=%s T=%lld N=%lld d=%lld f=%lld S=%lld fs=%lld k=%lld "
                      "capacity=%lld budget=%lld alpha=%.17g dtype=%s",
                      PolicyName(p), (long long)T, (long long)mw.N, (long long)mw.d,
                      (long long)mw.f, (long long)mw.S, (long long)mw.fs,
                      (long long)std::llround(o.k), (long long)EcCapacity(o.k, T, mw.N),
                      (long long)UnifiedBudget(o.k, T, mw.N), PolicyAlpha(o, p),
                      DtypeName(mw.dtype));
        torch.Add(rows.size() - 1, "HF-style torch MoE block", spec + xfiles + wfiles,
                  [y = std::move(y)](const std::string& out) -> std::string {
                    std::vector<float> py;
                    if (!ReadFile(out, &py, y.size())) return "unreadable peer output";
                    double worst = 0, scale = 0;
                    for (size_t i = 0; i < y.size(); ++i) {
                      worst = std::max(worst, std::fabs(double(y[i]) - double(py[i])));
                      scale = std::max(scale, std::fabs(double(py[i])));
                    }
                    return "max rel diff " + Fmt("%.1e", scale > 0 ? worst / scale : worst);
                  });
      }
    }
    usmoe_experts_destroy(experts);
    Run::Progress("torch peers (moe stage)");
    torch.RunAll(&rows);
    if (!torch.label().empty()) peer_label = torch.label();
  }

  PrintTable(rows);
  if (!peer_label.empty()) {
    std::printf(
        "\npeers: %s, /usr/bin/python3 subprocess run after usmoe's cells on the same "
        "inputs (not interleaved); OPENBLAS_CORETYPE unset\n",
        peer_label.c_str());
    ctx.push_back({"peers", peer_label});
  }
  if (!notes.empty()) {
    std::printf("\nplans (usmoe_route):\n");
    for (const std::string& n : notes) std::printf("  %s\n", n.c_str());
  }
  std::printf(
      "\nthroughput = work / median (tokens for route, T*N cells for scores and "
      "select, 2*T*N*d flop for logits, 6*d*f flop per selected pair plus the shared "
      "experts for moe); limit = that rate over the probed limit (GEMM flops vs FMA "
      "peak for logits/route; 8 or 4 bytes per cell vs DRAM bandwidth for "
      "scores/select, above 100%% when the data is in cache; moe: the larger of its "
      "FMA share and its DRAM share for the weights it reads); ratio = base (or peer) "
      "median / usmoe median (> 1: usmoe faster)\n");

  int exit_code = 0;
  if (!o.json_path.empty()) {
    std::string err = WriteJson(o.json_path, ctx, rows);
    if (!err.empty()) {
      std::fprintf(stderr, "%s\n", err.c_str());
      exit_code = 1;
    }
  }
  if (!o.csv_path.empty()) {
    std::string err = WriteCsv(o.csv_path, o, rows);
    if (!err.empty()) {
      std::fprintf(stderr, "%s\n", err.c_str());
      exit_code = 1;
    }
  }
  if (!o.plot_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.plot_dir, ec);
    std::string err = ec ? "--plot: cannot create " + o.plot_dir + ": " + ec.message() : "";
    if (err.empty()) err = WriteJson(o.plot_dir + "/usmoe-bench.json", ctx, rows);
    if (err.empty()) err = WriteAssignment(o.plot_dir, o);
    if (err.empty()) err = RunPlotScript(o.plot_dir);
    if (!err.empty()) {
      std::fprintf(stderr, "%s\n", err.c_str());
      exit_code = 1;
    }
  }
  for (const Row& r : rows)
    if (!r.ours.ok && r.ours.error.rfind("skipped", 0) != 0) exit_code = 1;
  return exit_code;
}

}  // namespace usmoe_bench

int main(int argc, char** argv) { return usmoe_bench::Main(argc, argv); }
