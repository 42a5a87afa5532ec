// Proposition 3.1 of the paper: for the same score matrix U and the same
// budget c, the UNIFIED selection (global top-c) maximises the sum of the
// selected scores, so its objective is >= that of TOKEN_CHOICE, of
// EXPERT_CHOICE and of any feasible set of c cells.
//
// The three routers share every setting but the policy (alpha = 0.5,
// sigmoid f_e), so they compute the same U: this is asserted bitwise on the
// kept scores. Shapes are chosen so the three budgets coincide:
// TC: k·T; EC: N·ceil(k·T/N) = k·T when N divides k·T; UNIFIED: floor(k·T+0.5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "oracle/oracle.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

// Sum of the selected cells' scores (the objective), in double.
double Objective(const PlanCopy& p) {
  double s = 0.0;
  for (int64_t e = 0; e < p.N; ++e)
    for (int64_t i = p.expert_offsets[e]; i < p.expert_offsets[e + 1]; ++i)
      s += p.scores[p.token_ids[i] * p.N + e];
  return s;
}

PlanCopy RouteWith(usmoe_policy policy, int64_t T, int64_t N, int64_t d, double k,
                   const std::vector<float>& x, const std::vector<float>& w) {
  usmoe_router_config cfg = RouterConfig(policy, N, d, k);
  cfg.alpha = 0.5;
  cfg.expert_score = USMOE_EXPERT_SCORE_SIGMOID;
  cfg.keep_scores = 1;
  RouterHandle r;
  EXPECT_EQ(usmoe_router_create(&cfg, w.data(), &r.r), USMOE_STATUS_SUCCESS) << usmoe_last_error();
  PlanHandle plan;
  EXPECT_EQ(usmoe_route(r.r, x.data(), T, nullptr, 0, nullptr, plan.p), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  return CopyPlan(plan.p);
}

struct Shape {
  int64_t T, N, d, k;
};

TEST(Proposition31, UnifiedObjectiveDominatesTcEcAndRandomSets) {
  const Shape shapes[] = {{64, 8, 16, 2}, {60, 6, 12, 3}, {32, 16, 8, 1}, {130, 13, 20, 4}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE("T=" + std::to_string(s.T) + " N=" + std::to_string(s.N) +
                   " k=" + std::to_string(s.k));
      // Sharper logits (scale 2) make TC/EC visibly suboptimal.
      const auto x = RandomNormals(rng, s.T * s.d, 2.0);
      const auto w = RandomNormals(rng, s.N * s.d, 1.0 / std::sqrt(static_cast<double>(s.d)));
      ForEachTarget([&](const std::string&) {
        const PlanCopy tc = RouteWith(USMOE_POLICY_TOKEN_CHOICE, s.T, s.N, s.d, s.k, x, w);
        const PlanCopy ec = RouteWith(USMOE_POLICY_EXPERT_CHOICE, s.T, s.N, s.d, s.k, x, w);
        const PlanCopy un = RouteWith(USMOE_POLICY_UNIFIED, s.T, s.N, s.d, s.k, x, w);
        ASSERT_EQ(un.scores.size(), static_cast<size_t>(s.T * s.N));
        ASSERT_TRUE(SameBits(tc.scores, un.scores)) << "TC and UNIFIED saw different U";
        ASSERT_TRUE(SameBits(ec.scores, un.scores)) << "EC and UNIFIED saw different U";
        const int64_t c = s.k * s.T;
        ASSERT_EQ(tc.c, c);
        ASSERT_EQ(ec.c, c);
        ASSERT_EQ(un.c, c);
        const double ou = Objective(un), ot = Objective(tc), oe = Objective(ec);
        EXPECT_GE(ou, ot);
        EXPECT_GE(ou, oe);
        // The unified objective is the maximum: the sum of the c largest scores.
        std::vector<float> sorted = un.scores;
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        double best = 0.0;
        for (int64_t i = 0; i < c; ++i) best += sorted[i];
        EXPECT_NEAR(ou, best, 1e-9 * best);
        // Random feasible sets of c cells never beat it.
        std::vector<int64_t> cells(static_cast<size_t>(s.T * s.N));
        std::iota(cells.begin(), cells.end(), 0);
        for (int trial = 0; trial < 20; ++trial) {
          for (size_t i = cells.size() - 1; i > 0; --i)
            std::swap(cells[i], cells[static_cast<size_t>(rng.Int(0, static_cast<int64_t>(i)))]);
          double o = 0.0;
          for (int64_t i = 0; i < c; ++i) o += un.scores[cells[i]];
          EXPECT_GE(ou, o) << "random set " << trial;
        }
      });
    }
  });
}

TEST(Proposition31, FractionalBudgetsAreMonotone) {
  // More budget never lowers the objective, and the selections are nested:
  // the top-c cells are a subset of the top-(c+1) cells (one group).
  ForEachSeed([&](uint64_t, Rng& rng) {
    const int64_t T = 40, N = 10, d = 8;
    const auto x = RandomNormals(rng, T * d, 1.5);
    const auto w = RandomNormals(rng, N * d, 0.5);
    std::vector<uint8_t> prev;
    double prev_obj = -1.0;
    for (double k : {0.0, 0.5, 1.0, 1.5, 2.25, 5.0, 10.0}) {
      const PlanCopy p = RouteWith(USMOE_POLICY_UNIFIED, T, N, d, k, x, w);
      EXPECT_EQ(p.c, std::min<int64_t>(T * N, static_cast<int64_t>(std::floor(k * T + 0.5))));
      std::vector<uint8_t> mask(T * N, 0);
      for (int64_t e = 0; e < N; ++e)
        for (int64_t i = p.expert_offsets[e]; i < p.expert_offsets[e + 1]; ++i)
          mask[p.token_ids[i] * N + e] = 1;
      if (!prev.empty()) {
        for (int64_t i = 0; i < T * N; ++i)
          EXPECT_TRUE(!prev[i] || mask[i]) << "cell " << i << " dropped at k=" << k;
      }
      const double o = Objective(p);
      EXPECT_GE(o, prev_obj) << "k=" << k;
      prev = mask;
      prev_obj = o;
    }
  });
}

}  // namespace
}  // namespace usmoe_test
