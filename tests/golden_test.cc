// The golden vector of DESIGN.md §1 (T=4, N=4, k=2, α=0.5, f_e = sigmoid·2/N).
//
// The listed U values are rounded to 6 decimals, so they are compared with
// |got - listed| <= 5e-7 (the rounding of the listing) + 1e-6·|listed|; the
// library's U is also compared with the double oracle under the acceptance
// rule |got - ref| <= 1e-6·|ref| + 1e-12.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "oracle/oracle.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

const float kLogits[16] = {2.0f,  0.1f, -1.0f, 0.5f, -0.3f, 0.2f, 0.1f, 0.0f,
                           1.5f,  1.4f, 1.3f,  -2.0f, 0.0f, -0.5f, 0.9f, 1.1f};
const double kU[16] = {0.571697, 0.183818, 0.084735, 0.234044, 0.197457, 0.287604,
                       0.267102, 0.247929, 0.385963, 0.364837, 0.345115, 0.035284,
                       0.195718, 0.137278, 0.351676, 0.400015};

bool NearListed(double got, double listed) {
  return std::fabs(got - listed) <= 5e-7 + 1e-6 * std::fabs(listed);
}

TEST(Golden, OracleReproducesTheListedScores) {
  std::vector<double> L(kLogits, kLogits + 16);
  const auto U = oracle::UnifiedScores(L, 4, 4, 0.5, oracle::ExpertScore::kSigmoid, {}, {});
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(NearListed(U[i], kU[i])) << i << ": " << U[i];
}

TEST(Golden, ScoresOnEveryTarget) {
  std::vector<double> L(kLogits, kLogits + 16);
  const auto ref = oracle::UnifiedScores(L, 4, 4, 0.5, oracle::ExpertScore::kSigmoid, {}, {});
  ForEachTarget([&](const std::string&) {
    float U[16];
    ASSERT_EQ(usmoe_scores(kLogits, 4, 4, 0.5, USMOE_EXPERT_SCORE_SIGMOID, nullptr, 0, nullptr, U),
              USMOE_STATUS_SUCCESS)
        << usmoe_last_error();
    for (int i = 0; i < 16; ++i) {
      EXPECT_TRUE(NearListed(U[i], kU[i])) << "cell " << i << ": " << U[i] << " vs " << kU[i];
      EXPECT_TRUE(ScoreClose(U[i], ref[i])) << "cell " << i << ": " << U[i] << " vs " << ref[i];
    }
    // UNIFIED, c = floor(2·4 + 0.5) = 8, over these very scores.
    int64_t idx[8];
    ASSERT_EQ(usmoe_topc_global(U, 16, 8, idx, 8), USMOE_STATUS_SUCCESS);
    EXPECT_EQ(std::vector<int64_t>(idx, idx + 8),
              (std::vector<int64_t>{0, 5, 6, 8, 9, 10, 14, 15}));
  });
}

// Routes the logits through usmoe_route with d = N, X = logits, W = I.
PlanCopy RouteGolden(usmoe_policy policy, double alpha) {
  usmoe_router_config cfg = RouterConfig(policy, 4, 4, 2.0);
  cfg.alpha = alpha;
  cfg.token_view = 1;
  cfg.keep_scores = 1;
  const float I[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  RouterHandle r;
  EXPECT_EQ(usmoe_router_create(&cfg, I, &r.r), USMOE_STATUS_SUCCESS) << usmoe_last_error();
  PlanHandle plan;
  EXPECT_EQ(usmoe_route(r.r, kLogits, 4, nullptr, 0, nullptr, plan.p), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  return CopyPlan(plan.p);
}

TEST(Golden, UnifiedRouteOnEveryTarget) {
  ForEachTarget([&](const std::string&) {
    const PlanCopy p = RouteGolden(USMOE_POLICY_UNIFIED, 0.5);
    ASSERT_EQ(p.c, 8);
    // t0:{0}, t1:{1,2}, t2:{0,1,2}, t3:{2,3}
    EXPECT_EQ(p.token_offsets, (std::vector<int64_t>{0, 1, 3, 6, 8}));
    EXPECT_EQ(p.token_experts, (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 2, 3}));
    EXPECT_EQ(p.token_counts, (std::vector<int64_t>{1, 2, 3, 2}));
    EXPECT_EQ(p.expert_loads, (std::vector<int64_t>{2, 2, 3, 1}));
    EXPECT_EQ(p.expert_offsets, (std::vector<int64_t>{0, 2, 4, 7, 8}));
    EXPECT_EQ(p.token_ids, (std::vector<int64_t>{0, 2, 1, 2, 1, 2, 3, 3}));
    // Gate weights (norm NONE) are the U values of the selected cells.
    const int cells[8] = {0, 8, 5, 9, 6, 10, 14, 15};  // expert-major order
    ASSERT_EQ(p.weights.size(), 8u);
    for (int i = 0; i < 8; ++i)
      EXPECT_TRUE(NearListed(p.weights[i], kU[cells[i]])) << i << ": " << p.weights[i];
    for (int i = 0; i < 16; ++i) EXPECT_TRUE(NearListed(p.scores[i], kU[i])) << i;
  });
}

TEST(Golden, TokenChoiceTopTwo) {
  ForEachTarget([&](const std::string&) {
    for (double alpha : {0.0, 0.5}) {
      const PlanCopy p = RouteGolden(USMOE_POLICY_TOKEN_CHOICE, alpha);
      ASSERT_EQ(p.c, 8);
      ASSERT_EQ(p.token_experts.size(), 8u);
      EXPECT_EQ(p.token_experts[0], 0) << "alpha=" << alpha;
      EXPECT_EQ(p.token_experts[1], 3) << "alpha=" << alpha;
      EXPECT_EQ(p.token_counts, (std::vector<int64_t>{2, 2, 2, 2}));
    }
  });
}

}  // namespace
}  // namespace usmoe_test
