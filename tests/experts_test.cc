// usmoe_experts_forward against the double oracle.
//
// Error measure (norm-wise relative): max_i |y_i - ref_i| / max_i |ref_i|
// must be <= 1e-5 (f32 arithmetic), or <= 1e-2 where the backend runs real
// bf16 GEMMs (oneDNN with bf16 weights rounds the activations to bf16). The
// plan comes from usmoe_route; the oracle uses the plan's own f32 gate
// weights, so only the executor is under test. bf16 weights are compared
// with the oracle run on the bf16-decoded weights. Every case runs on every
// backend of this build (oneDNN is skipped where it is not built in).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

constexpr double kNormRelTol = 1e-5;
// bf16 weights with a bf16 GEMM (oneDNN's, or the Highway backend's
// vdpbf16ps path): activations are rounded to bf16 (relative 2^-9 each),
// the oracle does not round them. Measured 1e-3..3e-3.
constexpr double kBf16GemmTol = 1e-2;

// True when the dispatched target runs the Highway backend's bf16 weights
// through vdpbf16ps (an AVX3 target on a CPU with AVX512_BF16); elsewhere it
// widens bf16 weights exactly and must meet kNormRelTol like f32.
bool Bf16DotPath() {
#if defined(__x86_64__) && defined(__GNUC__)
  const char* name = "";
  if (usmoe_simd_target_name(&name) != USMOE_STATUS_SUCCESS) return false;
  const std::string t = name;
  return __builtin_cpu_supports("avx512bf16") && (t == "AVX3" || t == "AVX3_DL");
#else
  return false;
#endif
}

// The backends this build has: HIGHWAY always, ONEDNN unless creating with
// it is UNSUPPORTED.
const std::vector<usmoe_backend>& Backends() {
  static const std::vector<usmoe_backend> list = [] {
    std::vector<usmoe_backend> b = {USMOE_BACKEND_HIGHWAY};
    usmoe_experts_config cfg;
    usmoe_experts_config_init(&cfg);
    cfg.num_experts = cfg.dim = cfg.hidden = 1;
    cfg.backend = USMOE_BACKEND_ONEDNN;
    const float one = 1.0f;
    usmoe_experts* e = nullptr;
    const usmoe_status st = usmoe_experts_create(&cfg, &one, &one, &one, nullptr, nullptr, nullptr, &e);
    usmoe_experts_destroy(e);
    if (st == USMOE_STATUS_SUCCESS) b.push_back(USMOE_BACKEND_ONEDNN);
    return b;
  }();
  return list;
}

const char* BackendName(usmoe_backend b) {
  return b == USMOE_BACKEND_ONEDNN ? "onednn" : b == USMOE_BACKEND_HIGHWAY ? "highway" : "auto";
}

double Tolerance(usmoe_backend b, bool bf16) {
  return bf16 && (b == USMOE_BACKEND_ONEDNN || Bf16DotPath()) ? kBf16GemmTol : kNormRelTol;
}

// Runs body(backend) once per backend, with a trace naming it.
template <class F>
void ForEachBackend(F&& body) {
  for (usmoe_backend b : Backends()) {
    SCOPED_TRACE(std::string("backend=") + BackendName(b));
    body(b);
  }
}

oracle::Activation ToOracleAct(usmoe_activation a) {
  switch (a) {
    case USMOE_ACTIVATION_GELU_TANH: return oracle::Activation::kGeluTanh;
    case USMOE_ACTIVATION_GELU_ERF: return oracle::Activation::kGeluErf;
    case USMOE_ACTIVATION_RELU: return oracle::Activation::kReLU;
    default: return oracle::Activation::kSwiGLU;
  }
}

std::vector<double> ToDouble(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> ToDouble(const std::vector<uint16_t>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = oracle::Bf16ToDouble(v[i]);
  return out;
}

double NormRelError(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num = std::max(num, std::fabs(got[i] - ref[i]));
    den = std::max(den, std::fabs(ref[i]));
  }
  return den > 0 ? num / den : num;
}

struct ExpertWeights {
  int64_t N, d, f, S, fs;
  usmoe_activation act;
  bool bf16;
  std::vector<float> w1, w3, w2, s1, s3, s2;            // f32 (or pre-rounding)
  std::vector<uint16_t> b1, b3, b2, c1, c3, c2;         // bf16 patterns
};

ExpertWeights MakeWeights(Rng& rng, int64_t N, int64_t d, int64_t f, int64_t S, int64_t fs,
                          usmoe_activation act, bool bf16) {
  ExpertWeights w{N, d, f, S, fs, act, bf16, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  const bool swiglu = act == USMOE_ACTIVATION_SWIGLU;
  const double s_in = 1.0 / std::sqrt(static_cast<double>(d));
  w.w1 = RandomNormals(rng, N * f * d, s_in);
  if (swiglu) w.w3 = RandomNormals(rng, N * f * d, s_in);
  w.w2 = RandomNormals(rng, N * d * f, 1.0 / std::sqrt(static_cast<double>(f)));
  if (S > 0) {
    w.s1 = RandomNormals(rng, S * fs * d, s_in);
    if (swiglu) w.s3 = RandomNormals(rng, S * fs * d, s_in);
    w.s2 = RandomNormals(rng, S * d * fs, 1.0 / std::sqrt(static_cast<double>(fs)));
  }
  if (bf16) {
    w.b1 = ToBf16(w.w1);
    w.b3 = ToBf16(w.w3);
    w.b2 = ToBf16(w.w2);
    w.c1 = ToBf16(w.s1);
    w.c3 = ToBf16(w.s3);
    w.c2 = ToBf16(w.s2);
  }
  return w;
}

const void* Ptr(const std::vector<float>& f, const std::vector<uint16_t>& b, bool bf16) {
  if (bf16) return b.empty() ? nullptr : static_cast<const void*>(b.data());
  return f.empty() ? nullptr : static_cast<const void*>(f.data());
}

usmoe_status Create(const ExpertWeights& w, ExpertsHandle* h, usmoe_backend backend) {
  usmoe_experts_config cfg;
  EXPECT_EQ(usmoe_experts_config_init(&cfg), USMOE_STATUS_SUCCESS);
  cfg.num_experts = w.N;
  cfg.dim = w.d;
  cfg.hidden = w.f;
  cfg.activation = w.act;
  cfg.dtype = w.bf16 ? USMOE_DTYPE_BF16 : USMOE_DTYPE_F32;
  cfg.num_shared = w.S;
  cfg.shared_hidden = w.S > 0 ? w.fs : 0;
  cfg.backend = backend;
  return usmoe_experts_create(&cfg, Ptr(w.w1, w.b1, w.bf16), Ptr(w.w3, w.b3, w.bf16),
                              Ptr(w.w2, w.b2, w.bf16), Ptr(w.s1, w.c1, w.bf16),
                              Ptr(w.s3, w.c3, w.bf16), Ptr(w.s2, w.c2, w.bf16), &h->e);
}

std::vector<double> Reference(const ExpertWeights& w, const std::vector<float>& x, int64_t T,
                              const PlanCopy& plan) {
  auto dv = [&](const std::vector<float>& f, const std::vector<uint16_t>& b) {
    return w.bf16 ? ToDouble(b) : ToDouble(f);
  };
  return oracle::ExpertsForward(ToOracleAct(w.act), w.N, w.d, w.f, dv(w.w1, w.b1),
                                dv(w.w3, w.b3), dv(w.w2, w.b2), w.S, w.fs, dv(w.s1, w.c1),
                                dv(w.s3, w.c3), dv(w.s2, w.c2), x.data(), T,
                                plan.expert_offsets.data(), plan.token_ids.data(),
                                plan.weights.data());
}

// Routes T random tokens (router dim rd) into *plan with the given policy.
void RoutePlan(Rng& rng, usmoe_policy policy, int64_t T, int64_t N, double k,
               usmoe_plan* plan) {
  const int64_t rd = 8;
  usmoe_router_config cfg = RouterConfig(policy, N, rd, k);
  cfg.gate_norm = USMOE_GATE_NORM_SELECTED;
  const auto w = RandomNormals(rng, N * rd, 0.5);
  const auto xr = RandomNormals(rng, T * rd, 1.0);
  RouterHandle r;
  ASSERT_EQ(usmoe_router_create(&cfg, w.data(), &r.r), USMOE_STATUS_SUCCESS) << usmoe_last_error();
  ASSERT_EQ(usmoe_route(r.r, xr.data(), T, nullptr, 0, nullptr, plan), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
}

// Runs ex (created from w on backend) on the plan and checks it against
// ref (the oracle, computed once by the caller).
void CheckForward(const ExpertWeights& w, const ExpertsHandle& ex, const std::vector<float>& x,
                  int64_t T, usmoe_plan* plan, const std::vector<double>& ref,
                  usmoe_backend backend) {
  const PlanCopy pc = CopyPlan(plan);
  std::vector<float> y(static_cast<size_t>(T * w.d), std::nanf(""));
  ASSERT_EQ(usmoe_experts_forward(ex.e, x.data(), T, plan, y.data()), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  const double err = NormRelError(y, ref);
  EXPECT_LE(err, Tolerance(backend, w.bf16)) << "backend=" << BackendName(backend) << " activation=" << w.act << " bf16=" << w.bf16 << " N=" << w.N
                              << " d=" << w.d << " f=" << w.f << " shared=" << w.S
                              << " T=" << T << " c=" << pc.c;
}

// Creates the experts on backend and checks one forward on every target.
void CheckForwardOnEveryTarget(const ExpertWeights& w, const std::vector<float>& x, int64_t T,
                               usmoe_plan* plan, usmoe_backend backend, bool every_target = true) {
  ExpertsHandle ex;
  ASSERT_EQ(Create(w, &ex, backend), USMOE_STATUS_SUCCESS) << usmoe_last_error();
  const std::vector<double> ref = Reference(w, x, T, CopyPlan(plan));
  if (!every_target) return CheckForward(w, ex, x, T, plan, ref, backend);
  ForEachTarget([&](const std::string&) { CheckForward(w, ex, x, T, plan, ref, backend); });
}

const usmoe_activation kActs[] = {USMOE_ACTIVATION_SWIGLU, USMOE_ACTIVATION_GELU_TANH,
                                  USMOE_ACTIVATION_GELU_ERF, USMOE_ACTIVATION_RELU};

TEST(Experts, AllActivationsMatchOracleOnEveryTarget) {
  struct S {
    int64_t T, N, d, f, shared, fs;
    usmoe_policy policy;
    double k;
  };
  const S shapes[] = {{1, 1, 4, 3, 0, 0, USMOE_POLICY_TOKEN_CHOICE, 1},
                      {20, 6, 32, 48, 0, 0, USMOE_POLICY_UNIFIED, 1.5},
                      {37, 8, 96, 40, 2, 24, USMOE_POLICY_EXPERT_CHOICE, 2},
                      {64, 16, 24, 64, 1, 32, USMOE_POLICY_TOKEN_CHOICE, 4}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const S& s : shapes)
      for (usmoe_activation act : kActs)
        for (bool bf16 : {false, true}) {
          const ExpertWeights w = MakeWeights(rng, s.N, s.d, s.f, s.shared, s.fs, act, bf16);
          const auto x = RandomNormals(rng, s.T * s.d, 1.0);
          PlanHandle plan;
          RoutePlan(rng, s.policy, s.T, s.N, s.k, plan.p);
          ForEachBackend([&](usmoe_backend b) { CheckForwardOnEveryTarget(w, x, s.T, plan.p, b); });
        }
  });
}

TEST(Experts, EmptyAndFullExperts) {
  // Identity router (d = N): expert 1 has the top logit for every token and
  // expert 0 the lowest, so TC k = 2 gives expert 1 all tokens and expert 0
  // none; UNIFIED k = 0 leaves every expert empty (y = shared part only).
  const int64_t T = 25, N = 5, d = 16, f = 20;
  std::vector<float> L(T * N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e)
      L[t * N + e] = e == 1 ? 5.0f : (e == 0 ? -5.0f : 0.1f * static_cast<float>((t + e) % 7));
  std::vector<float> I(N * N, 0.0f);
  for (int64_t e = 0; e < N; ++e) I[e * N + e] = 1.0f;
  ForEachSeed([&](uint64_t, Rng& rng) {
    const auto x = RandomNormals(rng, T * d, 1.0);
    for (double k : {2.0, 0.0}) {
      usmoe_router_config cfg =
          RouterConfig(k > 0 ? USMOE_POLICY_TOKEN_CHOICE : USMOE_POLICY_UNIFIED, N, N, k);
      RouterHandle r;
      ASSERT_EQ(usmoe_router_create(&cfg, I.data(), &r.r), USMOE_STATUS_SUCCESS);
      PlanHandle plan;
      ASSERT_EQ(usmoe_route(r.r, L.data(), T, nullptr, 0, nullptr, plan.p), USMOE_STATUS_SUCCESS);
      const PlanCopy pc = CopyPlan(plan.p);
      if (k > 0) {
        ASSERT_EQ(pc.expert_loads[0], 0);
        ASSERT_EQ(pc.expert_loads[1], T);
      } else {
        ASSERT_EQ(pc.c, 0);
      }
      for (usmoe_activation act : kActs)
        for (int64_t shared : {0, 1}) {
          const ExpertWeights w = MakeWeights(rng, N, d, f, shared, 12, act, false);
          ForEachBackend([&](usmoe_backend b) {
            CheckForwardOnEveryTarget(w, x, T, plan.p, b);
            if (k == 0 && shared == 0) {
              // No expert and no shared expert: y = 0 exactly.
              ExpertsHandle ex;
              ASSERT_EQ(Create(w, &ex, b), USMOE_STATUS_SUCCESS);
              std::vector<float> y(T * d, 7.0f);
              ASSERT_EQ(usmoe_experts_forward(ex.e, x.data(), T, plan.p, y.data()),
                        USMOE_STATUS_SUCCESS);
              for (float v : y) ASSERT_EQ(v, 0.0f);
            }
          });
        }
    }
  });
}

TEST(Experts, TokensWithoutExpertGetOnlySharedOrZero) {
  // EC with a small capacity leaves some tokens with no expert: their rows
  // are exactly 0 without shared experts.
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  const int64_t T = 40, N = 4, d = 12, f = 10;
  PlanHandle plan;
  RoutePlan(rng, USMOE_POLICY_EXPERT_CHOICE, T, N, 0.5, plan.p);  // C = ceil(0.5·40/4) = 5
  const PlanCopy pc = CopyPlan(plan.p);
  ASSERT_EQ(pc.c, 20);
  const ExpertWeights w = MakeWeights(rng, N, d, f, 0, 0, USMOE_ACTIVATION_SWIGLU, false);
  const auto x = RandomNormals(rng, T * d, 1.0);
  ForEachBackend([&](usmoe_backend b) {
    ExpertsHandle ex;
    ASSERT_EQ(Create(w, &ex, b), USMOE_STATUS_SUCCESS);
    std::vector<float> y(T * d, 9.0f);
    ASSERT_EQ(usmoe_experts_forward(ex.e, x.data(), T, plan.p, y.data()), USMOE_STATUS_SUCCESS);
    int empty_tokens = 0;
    for (int64_t t = 0; t < T; ++t)
      if (pc.token_counts[t] == 0) {
        ++empty_tokens;
        for (int64_t j = 0; j < d; ++j) EXPECT_EQ(y[t * d + j], 0.0f) << "token " << t;
      }
    EXPECT_GE(empty_tokens, 20);
    EXPECT_LE(NormRelError(y, Reference(w, x, T, pc)), kNormRelTol);
  });
}

TEST(Experts, IdenticalAcrossThreadCounts) {
  // Shapes with several row and column blocks on every backend (f and d
  // above the blocks' widths, an expert with more rows than an item takes)
  // and a small one; f32 and bf16 weights; shared experts.
  struct S {
    int64_t T, N, d, f;
    double k;
  };
  const S shapes[] = {{150, 12, 48, 64, 2.5}, {300, 3, 272, 300, 2.0}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const S& s : shapes) {
      PlanHandle plan;
      RoutePlan(rng, USMOE_POLICY_UNIFIED, s.T, s.N, s.k, plan.p);
      for (usmoe_activation act : {USMOE_ACTIVATION_SWIGLU, USMOE_ACTIVATION_GELU_ERF}) {
        const bool bf16 = act == USMOE_ACTIVATION_GELU_ERF;
        const ExpertWeights w = MakeWeights(rng, s.N, s.d, s.f, 1, 32, act, bf16);
        const auto x = RandomNormals(rng, s.T * s.d, 1.0);
        const std::vector<double> ref = Reference(w, x, s.T, CopyPlan(plan.p));
        ForEachBackend([&](usmoe_backend b) {
          ExpertsHandle ex;
          ASSERT_EQ(Create(w, &ex, b), USMOE_STATUS_SUCCESS) << usmoe_last_error();
          // The large shape on the default target only (the scalar target
          // takes minutes on it); the small one on every target.
          auto check = [&](const std::string&) {
            std::vector<std::vector<float>> ys;
            ForEachThreadCount({1, 2, 3}, [&](int32_t) {
              std::vector<float> y(s.T * s.d, -1.0f);
              ASSERT_EQ(usmoe_experts_forward(ex.e, x.data(), s.T, plan.p, y.data()),
                        USMOE_STATUS_SUCCESS);
              ys.push_back(y);
            });
            ASSERT_EQ(ys.size(), 3u);
            EXPECT_TRUE(SameBits(ys[0], ys[1])) << "1 vs 2 threads, d=" << s.d;
            EXPECT_TRUE(SameBits(ys[0], ys[2])) << "1 vs 3 threads, d=" << s.d;
            EXPECT_LE(NormRelError(ys[0], ref), Tolerance(b, bf16)) << "d=" << s.d;
          };
          if (s.d < 100) {
            ForEachTarget(check);
          } else {
            check("default");
          }
        });
      }
    }
  });
}

TEST(Experts, BackendsAgreeOnLargeShapes) {
  // f32 weights: both backends compute f32 GEMMs and agree with the oracle
  // to 1e-5 on shapes with many column blocks and rows per expert.
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  const int64_t T = 520, N = 4, d = 320, f = 272;
  PlanHandle plan;
  RoutePlan(rng, USMOE_POLICY_TOKEN_CHOICE, T, N, 2, plan.p);
  const ExpertWeights w = MakeWeights(rng, N, d, f, 1, 48, USMOE_ACTIVATION_SWIGLU, false);
  const auto x = RandomNormals(rng, T * d, 1.0);
  ForEachBackend([&](usmoe_backend b) { CheckForwardOnEveryTarget(w, x, T, plan.p, b, false); });
}

TEST(Experts, ReusedAcrossPlansAndShapes) {
  // One experts object, several plans with different T: y is fully
  // overwritten each time (pre-filled with garbage).
  Rng rng(TestSeeds()[1]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[1]));
  const int64_t N = 6, d = 20, f = 30;
  const ExpertWeights w = MakeWeights(rng, N, d, f, 1, 8, USMOE_ACTIVATION_GELU_TANH, false);
  ForEachBackend([&](usmoe_backend b) {
    ExpertsHandle ex;
    ASSERT_EQ(Create(w, &ex, b), USMOE_STATUS_SUCCESS);
    for (int64_t T : {1, 77, 3}) {
      PlanHandle plan;
      RoutePlan(rng, USMOE_POLICY_UNIFIED, T, N, 1.5, plan.p);
      const auto x = RandomNormals(rng, T * d, 1.0);
      std::vector<float> y(T * d, 1e30f);
      ASSERT_EQ(usmoe_experts_forward(ex.e, x.data(), T, plan.p, y.data()), USMOE_STATUS_SUCCESS);
      EXPECT_LE(NormRelError(y, Reference(w, x, T, CopyPlan(plan.p))), kNormRelTol) << "T=" << T;
    }
  });
}

}  // namespace
}  // namespace usmoe_test
