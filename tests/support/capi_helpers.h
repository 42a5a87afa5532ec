// Small RAII wrappers and plan snapshots over the public C API, for tests.
#ifndef USMOE_TESTS_SUPPORT_CAPI_HELPERS_H_
#define USMOE_TESTS_SUPPORT_CAPI_HELPERS_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "oracle/oracle.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {

struct PlanHandle {
  usmoe_plan* p = nullptr;
  PlanHandle() { EXPECT_EQ(usmoe_plan_create(&p), USMOE_STATUS_SUCCESS); }
  ~PlanHandle() { usmoe_plan_destroy(p); }
  PlanHandle(const PlanHandle&) = delete;
  PlanHandle& operator=(const PlanHandle&) = delete;
};

struct RouterHandle {
  usmoe_router* r = nullptr;
  RouterHandle() = default;
  ~RouterHandle() { usmoe_router_destroy(r); }
  RouterHandle(const RouterHandle&) = delete;
  RouterHandle& operator=(const RouterHandle&) = delete;
};

struct ExpertsHandle {
  usmoe_experts* e = nullptr;
  ExpertsHandle() = default;
  ~ExpertsHandle() { usmoe_experts_destroy(e); }
  ExpertsHandle(const ExpertsHandle&) = delete;
  ExpertsHandle& operator=(const ExpertsHandle&) = delete;
};

inline usmoe_router_config RouterConfig(usmoe_policy policy, int64_t N, int64_t d, double k) {
  usmoe_router_config c;
  EXPECT_EQ(usmoe_router_config_init(&c, policy), USMOE_STATUS_SUCCESS);
  c.num_experts = N;
  c.dim = d;
  c.k = k;
  return c;
}

// A deep copy of everything a plan view exposes.
struct PlanCopy {
  int64_t T = -1, N = -1, c = -1;
  std::vector<int64_t> expert_offsets, token_ids, token_counts, expert_loads;
  std::vector<float> weights;
  bool has_scores = false, has_token_view = false;
  std::vector<float> scores;
  std::vector<int64_t> token_offsets, token_experts;
  std::vector<float> token_weights;
};

inline PlanCopy CopyPlan(const usmoe_plan* plan) {
  usmoe_plan_view v;
  std::memset(&v, 0, sizeof(v));
  v.struct_size = sizeof(v);
  PlanCopy out;
  EXPECT_EQ(usmoe_plan_get_view(plan, &v), USMOE_STATUS_SUCCESS) << usmoe_last_error();
  out.T = v.num_tokens;
  out.N = v.num_experts;
  out.c = v.num_selected;
  auto take = [](const auto* p, int64_t n) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(p)>>;
    return p && n > 0 ? std::vector<T>(p, p + n) : std::vector<T>();
  };
  if (out.N >= 0 && v.expert_offsets) out.expert_offsets = take(v.expert_offsets, out.N + 1);
  out.token_ids = take(v.token_ids, out.c);
  out.weights = take(v.weights, out.c);
  out.token_counts = take(v.token_counts, out.T);
  out.expert_loads = take(v.expert_loads, out.N);
  out.has_scores = v.scores != nullptr;
  out.scores = take(v.scores, out.T * out.N);
  out.has_token_view = v.token_offsets != nullptr;
  if (v.token_offsets) out.token_offsets = take(v.token_offsets, out.T + 1);
  out.token_experts = take(v.token_experts, out.c);
  out.token_weights = take(v.token_weights, out.c);
  return out;
}

inline bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

// Bitwise equality of two plan snapshots.
inline void ExpectPlansIdentical(const PlanCopy& a, const PlanCopy& b) {
  EXPECT_EQ(a.T, b.T);
  EXPECT_EQ(a.N, b.N);
  EXPECT_EQ(a.c, b.c);
  EXPECT_EQ(a.expert_offsets, b.expert_offsets);
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_TRUE(SameBits(a.weights, b.weights)) << "gate weights differ bitwise";
  EXPECT_EQ(a.token_counts, b.token_counts);
  EXPECT_EQ(a.expert_loads, b.expert_loads);
  EXPECT_EQ(a.has_scores, b.has_scores);
  EXPECT_TRUE(SameBits(a.scores, b.scores)) << "kept scores differ bitwise";
  EXPECT_EQ(a.token_offsets, b.token_offsets);
  EXPECT_EQ(a.token_experts, b.token_experts);
  EXPECT_TRUE(SameBits(a.token_weights, b.token_weights)) << "token weights differ bitwise";
}

// Relative tolerance on gate weights: |got - want| <= kWeightRelTol·|want| + 1e-12
// (NONE is the f32 score itself; SELECTED/ALL divide by an f32 sum).
constexpr double kWeightRelTol = 2e-6;

// Compares a library plan with the oracle's plan (indices exact, weights within
// kWeightRelTol relative). `with_token_view`: also check the per-token view.
inline void ExpectPlanMatches(const PlanCopy& got, const oracle::Plan& want,
                              bool with_token_view) {
  ASSERT_EQ(got.T, want.T);
  ASSERT_EQ(got.N, want.N);
  ASSERT_EQ(got.c, static_cast<int64_t>(want.token_ids.size())) << "number of selected cells";
  EXPECT_EQ(got.expert_offsets, want.expert_offsets);
  EXPECT_EQ(got.token_ids, want.token_ids);
  EXPECT_EQ(got.token_counts, want.token_counts);
  EXPECT_EQ(got.expert_loads, want.expert_loads);
  ASSERT_EQ(got.weights.size(), want.weights.size());
  int bad = 0;
  for (size_t i = 0; i < want.weights.size(); ++i) {
    const double w = want.weights[i], g = got.weights[i];
    if (!(std::fabs(g - w) <= kWeightRelTol * std::fabs(w) + 1e-12) && bad++ < 5)
      ADD_FAILURE() << "weight[" << i << "] (token " << want.token_ids[i] << "): got " << g
                    << " want " << w;
  }
  if (with_token_view) {
    ASSERT_TRUE(got.has_token_view);
    EXPECT_EQ(got.token_offsets, want.token_offsets);
    EXPECT_EQ(got.token_experts, want.token_experts);
    ASSERT_EQ(got.token_weights.size(), want.token_weights.size());
    for (size_t i = 0; i < want.token_weights.size(); ++i) {
      const double w = want.token_weights[i], g = got.token_weights[i];
      if (!(std::fabs(g - w) <= kWeightRelTol * std::fabs(w) + 1e-12) && bad++ < 10)
        ADD_FAILURE() << "token_weight[" << i << "]: got " << g << " want " << w;
    }
  }
}

inline oracle::Policy ToOracle(usmoe_policy p) {
  return p == USMOE_POLICY_TOKEN_CHOICE    ? oracle::Policy::kTokenChoice
         : p == USMOE_POLICY_EXPERT_CHOICE ? oracle::Policy::kExpertChoice
                                           : oracle::Policy::kUnified;
}
inline oracle::GateNorm ToOracleNorm(usmoe_gate_norm n) {
  return n == USMOE_GATE_NORM_SELECTED ? oracle::GateNorm::kSelected
         : n == USMOE_GATE_NORM_ALL    ? oracle::GateNorm::kAll
                                       : oracle::GateNorm::kNone;
}
inline oracle::ExpertScore ToOracleScore(usmoe_expert_score s) {
  return s == USMOE_EXPERT_SCORE_SOFTMAX_TOKENS ? oracle::ExpertScore::kSoftmaxTokens
                                                : oracle::ExpertScore::kSigmoid;
}

// The score tolerance of the acceptance rule: |got - ref| <= 1e-6·|ref| + 1e-12.
inline bool ScoreClose(double got, double ref, double rel = 1e-6) {
  return std::fabs(got - ref) <= rel * std::fabs(ref) + 1e-12;
}

inline std::string PolicyName(usmoe_policy p) {
  return p == USMOE_POLICY_TOKEN_CHOICE    ? "TOKEN_CHOICE"
         : p == USMOE_POLICY_EXPERT_CHOICE ? "EXPERT_CHOICE"
                                           : "UNIFIED";
}

}  // namespace usmoe_test

#endif  // USMOE_TESTS_SUPPORT_CAPI_HELPERS_H_
