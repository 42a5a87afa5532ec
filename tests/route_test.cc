// usmoe_route end to end: every policy, fractional k, groups (including
// empty and all-padding groups), masks, gate norms, keep_scores and the
// per-token view, adversarial inputs, thread counts and SIMD targets.
//
// How a route is checked (RouteChecker):
//   1. The selected cells must equal EXACTLY the oracle's selection applied
//      to the library's own f32 scores (plan.scores, keep_scores on), so the
//      check is immune to last-bit differences in the scores.
//   2. The whole plan (offsets, ids ascending within expert, counts, loads,
//      per-token view) must equal the oracle plan built from that selection;
//      gate weights within 2e-6 relative of the oracle's double computation
//      from the same f32 scores.
//   3. The kept scores must match the double oracle computed from the exact
//      input: within 1e-6·|ref| + 1e-12 (the acceptance rule) plus the
//      propagated f32 logit error 2·γ_d·Σ|x·w| · |ref| (softmax and sigmoid
//      have relative sensitivity ≤ 2·|ΔL|). With W = identity (logits = X
//      exactly) the extra term is 0 and the plain rule applies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "oracle/oracle.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

struct RouteInput {
  int64_t T = 0, N = 0, d = 0;
  std::vector<float> x, w;  // f32 values (for bf16 these are the decoded bf16 values)
  std::vector<uint16_t> xb, wb;
  bool bf16 = false;
  std::vector<int64_t> groups;  // empty: NULL, one group
  std::vector<uint8_t> valid;   // empty: NULL
};

RouteInput MakeInput(Rng& rng, int64_t T, int64_t N, int64_t d, bool bf16, double xscale = 1.0) {
  RouteInput in;
  in.T = T;
  in.N = N;
  in.d = d;
  in.bf16 = bf16;
  in.x = RandomNormals(rng, T * d, xscale);
  in.w = RandomNormals(rng, N * d, 1.0 / std::sqrt(static_cast<double>(d)));
  if (bf16) {
    in.xb = ToBf16(in.x);
    in.wb = ToBf16(in.w);
    for (size_t i = 0; i < in.x.size(); ++i) in.x[i] = Bf16ToF32(in.xb[i]);
    for (size_t i = 0; i < in.w.size(); ++i) in.w[i] = Bf16ToF32(in.wb[i]);
  }
  return in;
}

// Identity router (d = N, W = I): logits are exactly X.
RouteInput IdentityInput(const std::vector<float>& logits, int64_t T, int64_t N) {
  RouteInput in;
  in.T = T;
  in.N = N;
  in.d = N;
  in.x = logits;
  in.w.assign(static_cast<size_t>(N * N), 0.0f);
  for (int64_t e = 0; e < N; ++e) in.w[e * N + e] = 1.0f;
  return in;
}

bool IsIdentity(const RouteInput& in) {
  if (in.d != in.N) return false;
  for (int64_t e = 0; e < in.N; ++e)
    for (int64_t i = 0; i < in.d; ++i)
      if (in.w[e * in.d + i] != (e == i ? 1.0f : 0.0f)) return false;
  return true;
}

struct RouteResult {
  usmoe_status status;
  PlanCopy plan;
};

RouteResult Route(const usmoe_router_config& cfg, const RouteInput& in, usmoe_plan* plan) {
  RouterHandle r;
  const void* w = in.bf16 ? static_cast<const void*>(in.wb.data()) : in.w.data();
  const void* x = in.bf16 ? static_cast<const void*>(in.xb.data()) : in.x.data();
  usmoe_status st = usmoe_router_create(&cfg, w, &r.r);
  EXPECT_EQ(st, USMOE_STATUS_SUCCESS) << usmoe_last_error();
  if (st != USMOE_STATUS_SUCCESS) return {st, {}};
  st = usmoe_route(r.r, x, in.T, in.groups.empty() ? nullptr : in.groups.data(),
                   static_cast<int64_t>(in.groups.size()),
                   in.valid.empty() ? nullptr : in.valid.data(), plan);
  EXPECT_EQ(st, USMOE_STATUS_SUCCESS) << usmoe_last_error();
  return {st, st == USMOE_STATUS_SUCCESS ? CopyPlan(plan) : PlanCopy{}};
}

// Routes with keep_scores and token_view forced on and checks everything
// (see the file comment). Returns the plan.
PlanCopy RouteAndCheck(usmoe_router_config cfg, const RouteInput& in) {
  cfg.keep_scores = 1;
  cfg.token_view = 1;
  SCOPED_TRACE(PolicyName(cfg.policy) + " T=" + std::to_string(in.T) + " N=" +
               std::to_string(in.N) + " d=" + std::to_string(in.d) + " k=" +
               std::to_string(cfg.k) + " alpha=" + std::to_string(cfg.alpha) +
               " cf=" + std::to_string(cfg.capacity_factor) + " expert_score=" +
               std::to_string(cfg.expert_score) + " norm=" + std::to_string(cfg.gate_norm) +
               (in.bf16 ? " bf16" : " f32") + " groups=" + std::to_string(in.groups.size()) +
               (in.valid.empty() ? "" : " masked"));
  PlanHandle plan;
  RouteResult rr = Route(cfg, in, plan.p);
  if (rr.status != USMOE_STATUS_SUCCESS) return {};
  const PlanCopy& got = rr.plan;
  EXPECT_EQ(got.T, in.T);
  EXPECT_EQ(got.N, in.N);
  EXPECT_TRUE(got.has_scores);
  EXPECT_TRUE(got.has_token_view);
  if (got.scores.size() != static_cast<size_t>(in.T * in.N)) {
    ADD_FAILURE() << "kept scores missing";
    return got;
  }
  // 3. Scores against the double oracle.
  const std::vector<double> L = oracle::Logits(in.x.data(), in.w.data(), in.T, in.N, in.d);
  const std::vector<double> ref =
      oracle::UnifiedScores(L, in.T, in.N, cfg.alpha, ToOracleScore(cfg.expert_score),
                            in.groups, in.valid);
  double extra = 0.0;
  if (!IsIdentity(in)) {
    const auto scale = oracle::LogitsAbsScale(in.x.data(), in.w.data(), in.T, in.N, in.d);
    const double gamma = 2.0 * static_cast<double>(in.d) * std::ldexp(1.0, -24);
    extra = 2.0 * gamma * *std::max_element(scale.begin(), scale.end());
  }
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!ScoreClose(got.scores[i], ref[i], 1e-6 + extra) && bad++ < 5)
      ADD_FAILURE() << "score (t=" << i / in.N << ", e=" << i % in.N << "): got "
                    << got.scores[i] << " want " << ref[i];
  // 1 + 2. Selection and plan from the library's own scores.
  const std::vector<uint8_t> sel =
      oracle::Select(ToOracle(cfg.policy), got.scores.data(), in.T, in.N, cfg.k,
                     cfg.capacity_factor, in.groups, in.valid);
  const oracle::Plan want =
      oracle::BuildPlan(sel, got.scores.data(), in.T, in.N, ToOracleNorm(cfg.gate_norm));
  ExpectPlanMatches(got, want, /*with_token_view=*/true);
  return got;
}

usmoe_router_config Config(usmoe_policy p, int64_t N, int64_t d, double k, double alpha,
                           usmoe_expert_score es, usmoe_gate_norm norm, double cf = 1.0) {
  usmoe_router_config c = RouterConfig(p, N, d, k);
  c.alpha = alpha;
  c.expert_score = es;
  c.gate_norm = norm;
  c.capacity_factor = cf;
  return c;
}

const usmoe_policy kPolicies[] = {USMOE_POLICY_TOKEN_CHOICE, USMOE_POLICY_EXPERT_CHOICE,
                                  USMOE_POLICY_UNIFIED};

// A k valid for the policy, from a target value.
double KFor(usmoe_policy p, double k, int64_t N) {
  if (p == USMOE_POLICY_TOKEN_CHOICE) return std::max(1.0, std::min<double>(N, std::round(k)));
  if (p == USMOE_POLICY_EXPERT_CHOICE) return std::max(0.25, std::min<double>(N, k));
  return std::min<double>(N, k);
}

struct Case {
  int64_t T, N, d;
  std::vector<int64_t> groups;
  double mask_keep;  // < 1: random validity mask with this keep probability
  double k;
};

TEST(Route, RandomAllPoliciesOnEveryTarget) {
  const Case cases[] = {
      {1, 1, 4, {}, 1.0, 1.0},
      {1, 9, 8, {}, 1.0, 2.0},
      {16, 8, 32, {}, 1.0, 2.0},
      {45, 12, 20, {10, 0, 20, 0, 15}, 0.7, 1.5},
      {64, 33, 16, {}, 0.8, 4.0},
      {300, 130, 24, {150, 150}, 1.0, 8.0},
      {100, 7, 9, {0, 100, 0}, 0.5, 2.6},
  };
  const usmoe_expert_score es_list[] = {USMOE_EXPERT_SCORE_SIGMOID,
                                        USMOE_EXPERT_SCORE_SOFTMAX_TOKENS};
  const usmoe_gate_norm norms[] = {USMOE_GATE_NORM_NONE, USMOE_GATE_NORM_SELECTED,
                                   USMOE_GATE_NORM_ALL};
  const double alphas[] = {0.0, 0.5, 1.0, 0.3};
  ForEachSeed([&](uint64_t, Rng& rng) {
    int variant = 0;
    for (const Case& c : cases) {
      RouteInput in = MakeInput(rng, c.T, c.N, c.d, /*bf16=*/(variant % 3) == 2);
      in.groups = c.groups;
      if (c.mask_keep < 1.0) {
        in.valid.resize(static_cast<size_t>(c.T));
        for (auto& v : in.valid) v = rng.Uniform(0, 1) < c.mask_keep ? 1 : 0;
      }
      ForEachTarget([&](const std::string&) {
        for (usmoe_policy p : kPolicies) {
          const int v = variant++;
          const double cf = p == USMOE_POLICY_EXPERT_CHOICE ? (v % 2 ? 1.25 : 1.0) : 1.0;
          RouteAndCheck(Config(p, c.N, c.d, KFor(p, c.k, c.N), alphas[v % 4], es_list[(v / 4) % 2],
                               norms[v % 3], cf),
                        in);
        }
      });
    }
  });
}

TEST(Route, FractionalKUnified) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput in = MakeInput(rng, 37, 10, 16, false);
    in.groups = {12, 0, 25};
    ForEachTarget([&](const std::string&) {
      for (double k : {0.3, 1.5, 2.7, 0.04, 9.99}) {
        const PlanCopy p = RouteAndCheck(Config(USMOE_POLICY_UNIFIED, 10, 16, k, 0.5,
                                                USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                         in);
        // Budget per group, written out: floor(k·Tv + 0.5).
        const int64_t want = static_cast<int64_t>(std::floor(k * 12 + 0.5)) +
                             static_cast<int64_t>(std::floor(k * 25 + 0.5));
        EXPECT_EQ(p.c, want) << "k=" << k;
      }
    });
  });
}

TEST(Route, BudgetExtremesUnified) {
  // k = 0: c = 0, nothing selected; k = N: c = T·N, everything selected.
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  RouteInput in = MakeInput(rng, 21, 6, 8, false);
  ForEachTarget([&](const std::string&) {
    const PlanCopy none = RouteAndCheck(Config(USMOE_POLICY_UNIFIED, 6, 8, 0.0, 0.5,
                                               USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                        in);
    EXPECT_EQ(none.c, 0);
    EXPECT_EQ(none.expert_offsets, std::vector<int64_t>(7, 0));
    EXPECT_EQ(none.token_counts, std::vector<int64_t>(21, 0));
    const PlanCopy all = RouteAndCheck(Config(USMOE_POLICY_UNIFIED, 6, 8, 6.0, 0.5,
                                              USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_SELECTED),
                                       in);
    EXPECT_EQ(all.c, 21 * 6);
    EXPECT_EQ(all.expert_loads, std::vector<int64_t>(6, 21));
    EXPECT_EQ(all.token_counts, std::vector<int64_t>(21, 6));
    // TC with k = N and EC with k = N (C = T) also take everything.
    for (usmoe_policy p : {USMOE_POLICY_TOKEN_CHOICE, USMOE_POLICY_EXPERT_CHOICE}) {
      const PlanCopy full = RouteAndCheck(Config(p, 6, 8, 6.0, 0.0, USMOE_EXPERT_SCORE_SIGMOID,
                                                 USMOE_GATE_NORM_NONE),
                                          in);
      EXPECT_EQ(full.c, 21 * 6) << PolicyName(p);
    }
  });
}

TEST(Route, SingleTokenAndSingleExpert) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput t1 = MakeInput(rng, 1, 16, 8, false);
    RouteInput n1 = MakeInput(rng, 30, 1, 8, false);
    ForEachTarget([&](const std::string&) {
      for (usmoe_policy p : kPolicies) {
        // T = 1, UNIFIED with k = 3: the per-token top-3 of U (decoding note).
        const PlanCopy a = RouteAndCheck(
            Config(p, 16, 8, 3.0, p == USMOE_POLICY_UNIFIED ? 0.5 : 0.0,
                   USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_SELECTED),
            t1);
        EXPECT_EQ(a.c, p == USMOE_POLICY_EXPERT_CHOICE ? 16 : 3) << PolicyName(p);
        // N = 1: k = 1 selects every token everywhere; f_t = 1 exactly.
        const PlanCopy b = RouteAndCheck(
            Config(p, 1, 8, 1.0, 0.0, USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE), n1);
        EXPECT_EQ(b.c, 30);
        for (float w : b.weights) EXPECT_EQ(w, 1.0f);
      }
    });
  });
}

TEST(Route, TiesAllEqualAndDuplicates) {
  // All-equal logits: every cell ties, so the lowest flat indices win.
  const int64_t T = 10, N = 4;
  RouteInput eq = IdentityInput(std::vector<float>(T * N, 0.0f), T, N);
  ForEachTarget([&](const std::string&) {
    const PlanCopy u = RouteAndCheck(Config(USMOE_POLICY_UNIFIED, N, N, 1.5, 0.5,
                                            USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                     eq);
    // c = floor(15.5) = 15: cells 0..14, i.e. tokens 0..2 all experts, token 3 experts 0..2.
    EXPECT_EQ(u.c, 15);
    EXPECT_EQ(u.token_counts, (std::vector<int64_t>{4, 4, 4, 3, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(u.expert_loads, (std::vector<int64_t>{4, 4, 4, 3}));
    const PlanCopy ec = RouteAndCheck(Config(USMOE_POLICY_EXPERT_CHOICE, N, N, 2.0, 0.0,
                                             USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                      eq);
    // C = ceil(2·10/4) = 5: tokens 0..4 for every expert.
    EXPECT_EQ(ec.token_ids, (std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4,
                                                  0, 1, 2, 3, 4}));
    const PlanCopy tc = RouteAndCheck(Config(USMOE_POLICY_TOKEN_CHOICE, N, N, 2.0, 0.0,
                                             USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                      eq);
    EXPECT_EQ(tc.expert_loads, (std::vector<int64_t>{10, 10, 0, 0}));
  });
  // Duplicated tokens (rows) and duplicated experts (rows of W = columns of L).
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput in = MakeInput(rng, 40, 12, 16, false);
    for (int64_t t = 1; t < 40; t += 2)
      std::copy(in.x.begin() + (t - 1) * 16, in.x.begin() + t * 16, in.x.begin() + t * 16);
    for (int64_t e = 1; e < 12; e += 3)
      std::copy(in.w.begin() + (e - 1) * 16, in.w.begin() + e * 16, in.w.begin() + e * 16);
    ForEachTarget([&](const std::string&) {
      for (usmoe_policy p : kPolicies)
        for (double k : {1.0, 3.0})
          RouteAndCheck(Config(p, 12, 16, k, 0.5, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS,
                               USMOE_GATE_NORM_ALL),
                        in);
    });
  });
}

TEST(Route, HugeAndTinyLogits) {
  const int64_t T = 24, N = 6;
  std::vector<float> huge(T * N), tiny(T * N);
  for (int64_t i = 0; i < T * N; ++i) {
    huge[i] = (i % 5 == 0 || i % 7 == 0) ? 80.0f : -80.0f;
    tiny[i] = static_cast<float>((i % 3) - 1) * 1e-30f * static_cast<float>(1 + i % 4);
  }
  const std::vector<RouteInput> inputs = {IdentityInput(huge, T, N), IdentityInput(tiny, T, N)};
  ForEachTarget([&](const std::string&) {
    for (const RouteInput& in : inputs)
      for (usmoe_policy p : kPolicies)
        for (auto es : {USMOE_EXPERT_SCORE_SIGMOID, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS})
          RouteAndCheck(Config(p, N, N, 2.0, p == USMOE_POLICY_UNIFIED ? 0.5 : 0.0, es,
                               USMOE_GATE_NORM_SELECTED),
                        in);
  });
}

TEST(Route, GroupsOfSizeZeroAndAllPadding) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput in = MakeInput(rng, 30, 8, 12, false);
    in.groups = {0, 6, 0, 0, 9, 15, 0};
    in.valid.assign(30, 1);
    for (int64_t t = 6; t < 15; ++t) in.valid[t] = 0;  // group 4 is all padding
    in.valid[20] = in.valid[29] = 0;
    ForEachTarget([&](const std::string&) {
      for (usmoe_policy p : kPolicies)
        for (auto es : {USMOE_EXPERT_SCORE_SIGMOID, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS}) {
          const PlanCopy got = RouteAndCheck(
              Config(p, 8, 12, 2.0, 0.5, es, USMOE_GATE_NORM_NONE), in);
          if (got.token_counts.size() != 30) continue;
          for (int64_t t = 6; t < 15; ++t) EXPECT_EQ(got.token_counts[t], 0) << "padding " << t;
          EXPECT_EQ(got.token_counts[20], 0);
          EXPECT_EQ(got.token_counts[29], 0);
        }
      // UNIFIED budget from valid tokens only: 6·2 + 0 + 13·2.
      const PlanCopy u = RouteAndCheck(Config(USMOE_POLICY_UNIFIED, 8, 12, 2.0, 0.5,
                                              USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                       in);
      EXPECT_EQ(u.c, 12 + 26);
    });
  });
  // Every token padding: an empty plan.
  Rng rng(TestSeeds()[1]);
  RouteInput pad = MakeInput(rng, 5, 4, 4, false);
  pad.valid.assign(5, 0);
  for (usmoe_policy p : kPolicies) {
    const PlanCopy got =
        RouteAndCheck(Config(p, 4, 4, 1.0, 0.5, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS,
                             USMOE_GATE_NORM_SELECTED),
                      pad);
    EXPECT_EQ(got.c, 0) << PolicyName(p);
  }
}

TEST(Route, GroupsNeverCrossBoundaries) {
  // Group 0 has huge logits and group 1 tiny ones; a global top-c over the
  // whole batch would take only group 0's cells; per-group selection gives
  // each group its own budget.
  const int64_t N = 4;
  std::vector<float> L;
  for (int t = 0; t < 4; ++t)
    for (int e = 0; e < N; ++e) L.push_back(10.0f + e);
  for (int t = 0; t < 4; ++t)
    for (int e = 0; e < N; ++e) L.push_back(-10.0f - e);
  RouteInput in = IdentityInput(L, 8, N);
  in.groups = {4, 4};
  const PlanCopy u = RouteAndCheck(Config(USMOE_POLICY_UNIFIED, N, N, 1.0, 0.5,
                                          USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_NONE),
                                   in);
  EXPECT_EQ(u.c, 8);
  int64_t second = 0;
  for (int64_t t = 4; t < 8; ++t) second += u.token_counts.size() == 8 ? u.token_counts[t] : 0;
  EXPECT_EQ(second, 4);
}

TEST(Route, KeepScoresAndTokenViewOffGiveNull) {
  Rng rng(TestSeeds()[0]);
  RouteInput in = MakeInput(rng, 8, 4, 4, false);
  usmoe_router_config cfg = RouterConfig(USMOE_POLICY_UNIFIED, 4, 4, 2.0);
  PlanHandle plan;
  RouteResult rr = Route(cfg, in, plan.p);
  ASSERT_EQ(rr.status, USMOE_STATUS_SUCCESS);
  EXPECT_FALSE(rr.plan.has_scores);
  EXPECT_FALSE(rr.plan.has_token_view);
  EXPECT_EQ(rr.plan.c, 16);
}

TEST(Route, PlanReusedAcrossShapes) {
  // One plan, routed into repeatedly with growing and shrinking T.
  ForEachSeed([&](uint64_t, Rng& rng) {
    PlanHandle plan;
    RouterHandle r;
    usmoe_router_config cfg = Config(USMOE_POLICY_UNIFIED, 9, 8, 2.5, 0.5,
                                     USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_SELECTED);
    cfg.keep_scores = cfg.token_view = 1;
    const auto w = RandomNormals(rng, 9 * 8, 0.4);
    ASSERT_EQ(usmoe_router_create(&cfg, w.data(), &r.r), USMOE_STATUS_SUCCESS);
    for (int64_t T : {5, 200, 1, 60}) {
      const auto x = RandomNormals(rng, T * 8, 1.0);
      ASSERT_EQ(usmoe_route(r.r, x.data(), T, nullptr, 0, nullptr, plan.p), USMOE_STATUS_SUCCESS);
      const PlanCopy got = CopyPlan(plan.p);
      ASSERT_EQ(got.T, T);
      const auto sel = oracle::Select(oracle::Policy::kUnified, got.scores.data(), T, 9, 2.5, 1.0,
                                      {}, {});
      ExpectPlanMatches(got,
                        oracle::BuildPlan(sel, got.scores.data(), T, 9, oracle::GateNorm::kSelected),
                        true);
    }
  });
}

TEST(Route, IdenticalAcrossThreadCounts) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput in = MakeInput(rng, 300, 130, 24, false);
    in.groups = {100, 0, 200};
    in.valid.assign(300, 1);
    for (int64_t t = 0; t < 300; t += 7) in.valid[t] = 0;
    ForEachTarget([&](const std::string&) {
      for (usmoe_policy p : kPolicies) {
        usmoe_router_config cfg = Config(p, 130, 24, 8.0, 0.5, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS,
                                         USMOE_GATE_NORM_SELECTED);
        cfg.keep_scores = cfg.token_view = 1;
        std::vector<PlanCopy> plans;
        ForEachThreadCount({1, 2, 3}, [&](int32_t) {
          PlanHandle plan;
          RouteResult rr = Route(cfg, in, plan.p);
          if (rr.status == USMOE_STATUS_SUCCESS) plans.push_back(rr.plan);
        });
        ASSERT_EQ(plans.size(), 3u);
        SCOPED_TRACE(PolicyName(p));
        ExpectPlansIdentical(plans[0], plans[1]);
        ExpectPlansIdentical(plans[0], plans[2]);
      }
    });
  });
}

// A single group of 2^20 cells and more: the unified selection splits its
// passes over the threads (topc_global.cc); the plan must be the oracle's
// for the library's scores and must not change with the thread count.
TEST(Route, UnifiedOneLargeGroupAcrossThreadCounts) {
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  RouteInput in = MakeInput(rng, 16400, 64, 8, false);
  usmoe_router_config cfg = Config(USMOE_POLICY_UNIFIED, 64, 8, 6.0, 0.5,
                                   USMOE_EXPERT_SCORE_SIGMOID, USMOE_GATE_NORM_SELECTED);
  std::vector<PlanCopy> plans;
  ForEachThreadCount({1, 2, 3}, [&](int32_t threads) {
    if (threads == 1) {
      plans.push_back(RouteAndCheck(cfg, in));
      return;
    }
    cfg.keep_scores = cfg.token_view = 1;
    PlanHandle plan;
    RouteResult rr = Route(cfg, in, plan.p);
    ASSERT_EQ(rr.status, USMOE_STATUS_SUCCESS) << "threads=" << threads;
    plans.push_back(rr.plan);
  });
  ASSERT_EQ(plans.size(), 3u);
  ExpectPlansIdentical(plans[0], plans[1]);
  ExpectPlansIdentical(plans[0], plans[2]);
}

// Routes one input on every target and returns the plans with the target names.
void RouteOnEveryTarget(const usmoe_router_config& cfg, const RouteInput& in,
                        std::vector<PlanCopy>* plans, std::vector<std::string>* names) {
  ForEachTarget([&](const std::string& name) {
    PlanHandle plan;
    RouteResult rr = Route(cfg, in, plan.p);
    if (rr.status == USMOE_STATUS_SUCCESS) {
      plans->push_back(rr.plan);
      names->push_back(name);
    }
  });
}

TEST(Route, SelectionIdenticalWhereScoresIdentical) {
  // README: the selection is exact on every SIMD target for the scores that
  // target computed. So whenever two targets compute bitwise-identical
  // scores, their whole plans must be bitwise identical.
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput in = MakeInput(rng, 120, 33, 20, false);
    in.groups = {60, 60};
    for (usmoe_policy p : kPolicies) {
      usmoe_router_config cfg = Config(p, 33, 20, 4.0, 0.5, USMOE_EXPERT_SCORE_SIGMOID,
                                       USMOE_GATE_NORM_ALL);
      cfg.keep_scores = cfg.token_view = 1;
      std::vector<PlanCopy> plans;
      std::vector<std::string> names;
      RouteOnEveryTarget(cfg, in, &plans, &names);
      ASSERT_FALSE(plans.empty());
      for (size_t i = 0; i < plans.size(); ++i)
        for (size_t j = i + 1; j < plans.size(); ++j)
          if (SameBits(plans[i].scores, plans[j].scores)) {
            SCOPED_TRACE(PolicyName(p) + ": " + names[i] + " vs " + names[j]);
            ExpectPlansIdentical(plans[i], plans[j]);
          }
    }
  });
}

TEST(Route, BitwiseIdenticalScoresOnFmaTargets) {
  // The scores are computed in a width-independent order, so every target
  // with fused multiply-add (x86: AVX2, AVX3, AVX3_DL) computes bitwise the
  // same scores and gate weights. (Non-FMA targets, SSE4/SSSE3/SCALAR, may
  // differ in the last bits; their selection is still checked exactly
  // against their own scores by every other route test.)
  ForEachSeed([&](uint64_t, Rng& rng) {
    RouteInput in = MakeInput(rng, 64, 16, 20, false);
    usmoe_router_config cfg = Config(USMOE_POLICY_UNIFIED, 16, 20, 2.0, 0.5,
                                     USMOE_EXPERT_SCORE_SOFTMAX_TOKENS, USMOE_GATE_NORM_SELECTED);
    cfg.keep_scores = 1;
    std::vector<PlanCopy> plans;
    std::vector<std::string> names;
    RouteOnEveryTarget(cfg, in, &plans, &names);
    const PlanCopy* first = nullptr;
    std::string first_name;
    for (size_t i = 0; i < plans.size(); ++i) {
      if (names[i] != "AVX2" && names[i] != "AVX3" && names[i] != "AVX3_DL") continue;
      if (!first) {
        first = &plans[i];
        first_name = names[i];
        continue;
      }
      SCOPED_TRACE(first_name + " vs " + names[i]);
      int64_t differing = 0;
      for (size_t j = 0; j < first->scores.size(); ++j)
        differing += std::memcmp(&first->scores[j], &plans[i].scores[j], 4) != 0;
      EXPECT_EQ(differing, 0) << "kept scores differ bitwise in " << differing << " of "
                              << first->scores.size() << " cells";
      ExpectPlansIdentical(*first, plans[i]);
    }
  });
}

TEST(Route, ConfigDefaults) {
  usmoe_router_config c;
  std::memset(&c, 0x5A, sizeof(c));
  ASSERT_EQ(usmoe_router_config_init(&c, USMOE_POLICY_UNIFIED), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(c.struct_size, static_cast<int64_t>(sizeof(c)));
  EXPECT_EQ(c.policy, USMOE_POLICY_UNIFIED);
  EXPECT_EQ(c.alpha, 0.5);
  EXPECT_EQ(c.k, 8.0);
  EXPECT_EQ(c.capacity_factor, 1.0);
  EXPECT_EQ(c.expert_score, USMOE_EXPERT_SCORE_SIGMOID);
  EXPECT_EQ(c.gate_norm, USMOE_GATE_NORM_NONE);
  EXPECT_EQ(c.dtype, USMOE_DTYPE_F32);
  EXPECT_EQ(c.keep_scores, 0);
  EXPECT_EQ(c.token_view, 0);
  EXPECT_EQ(c.num_experts, 0);
  EXPECT_EQ(c.dim, 0);
  for (usmoe_policy p : {USMOE_POLICY_TOKEN_CHOICE, USMOE_POLICY_EXPERT_CHOICE}) {
    ASSERT_EQ(usmoe_router_config_init(&c, p), USMOE_STATUS_SUCCESS);
    EXPECT_EQ(c.alpha, 0.0);
    EXPECT_EQ(c.policy, p);
  }
  // get_config round-trips.
  usmoe_router_config cfg = RouterConfig(USMOE_POLICY_EXPERT_CHOICE, 3, 2, 1.5);
  cfg.capacity_factor = 2.0;
  const float w[6] = {1, 0, 0, 1, 1, 1};
  RouterHandle r;
  ASSERT_EQ(usmoe_router_create(&cfg, w, &r.r), USMOE_STATUS_SUCCESS);
  usmoe_router_config back;
  std::memset(&back, 0, sizeof(back));
  back.struct_size = sizeof(back);
  ASSERT_EQ(usmoe_router_get_config(r.r, &back), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(back.num_experts, 3);
  EXPECT_EQ(back.dim, 2);
  EXPECT_EQ(back.k, 1.5);
  EXPECT_EQ(back.capacity_factor, 2.0);
  EXPECT_EQ(back.policy, USMOE_POLICY_EXPERT_CHOICE);
}

}  // namespace
}  // namespace usmoe_test
