// Every bad input of the C API: the documented status, a non-empty
// usmoe_last_error(), and outputs / plans / handles byte-for-byte untouched
// (outputs are filled with a sentinel before the call).
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Asserts the status and a non-empty error message.
#define EXPECT_STATUS(call, want)                                                   \
  do {                                                                              \
    const usmoe_status st_ = (call);                                                \
    EXPECT_EQ(st_, (want)) << #call << ": " << usmoe_last_error();                  \
    if (st_ != USMOE_STATUS_SUCCESS) {                                              \
      const char* msg_ = usmoe_last_error();                                        \
      EXPECT_TRUE(msg_ != nullptr && msg_[0] != '\0') << #call << ": empty message"; \
    }                                                                               \
  } while (0)

template <typename T>
std::vector<T> Sentinel(size_t n, T v) {
  return std::vector<T>(n, v);
}

// A byte copy of a buffer, to prove it untouched.
template <typename T>
bool SameBytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

usmoe_router* const kRouterSentinel = reinterpret_cast<usmoe_router*>(uintptr_t{0xDEAD0});
usmoe_experts* const kExpertsSentinel = reinterpret_cast<usmoe_experts*>(uintptr_t{0xBEEF0});

// ------------------------------------------------------------------ misc

TEST(CapiErrors, StatusStringsAndVersion) {
  EXPECT_EQ(usmoe_version(), USMOE_VERSION_NUMBER);
  for (int s = 0; s <= 6; ++s) {
    const char* str = usmoe_status_string(s);
    ASSERT_NE(str, nullptr);
    EXPECT_NE(std::string(str), "unknown status") << s;
    EXPECT_GT(std::strlen(str), 0u);
  }
  EXPECT_STREQ(usmoe_status_string(USMOE_STATUS_SUCCESS), "success");
  EXPECT_STREQ(usmoe_status_string(USMOE_STATUS_INVALID_ARGUMENT), "invalid argument");
  EXPECT_STREQ(usmoe_status_string(99), "unknown status");
  EXPECT_STREQ(usmoe_status_string(-1), "unknown status");
  ASSERT_NE(usmoe_last_error(), nullptr);
}

TEST(CapiErrors, Threads) {
  EXPECT_STATUS(usmoe_set_num_threads(-1), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_set_num_threads(4097), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_get_num_threads(nullptr), USMOE_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(usmoe_set_num_threads(3), USMOE_STATUS_SUCCESS);
  int32_t n = -5;
  ASSERT_EQ(usmoe_get_num_threads(&n), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(n, 3);
  EXPECT_STATUS(usmoe_set_num_threads(-7), USMOE_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(usmoe_get_num_threads(&n), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(n, 3) << "a rejected setting changed the thread count";
  ASSERT_EQ(usmoe_set_num_threads(0), USMOE_STATUS_SUCCESS);
  ASSERT_EQ(usmoe_get_num_threads(&n), USMOE_STATUS_SUCCESS);
  EXPECT_GE(n, 1);
}

TEST(CapiErrors, SimdTargets) {
  DispatchRestorer restore;
  EXPECT_STATUS(usmoe_simd_supported_targets(nullptr), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_simd_target_name(nullptr), USMOE_STATUS_INVALID_ARGUMENT);
  int64_t supported = 0;
  ASSERT_EQ(usmoe_simd_supported_targets(&supported), USMOE_STATUS_SUCCESS);
  ASSERT_NE(supported, 0);
  int64_t unsupported = 0;
  for (int b = 0; b < 63; ++b)
    if (!(supported & (int64_t{1} << b))) {
      unsupported = int64_t{1} << b;
      break;
    }
  ASSERT_NE(unsupported, 0);
  const char* before = nullptr;
  ASSERT_EQ(usmoe_simd_target_name(&before), USMOE_STATUS_SUCCESS);
  EXPECT_STATUS(usmoe_simd_set_targets(unsupported), USMOE_STATUS_INVALID_ARGUMENT);
  const char* after = nullptr;
  ASSERT_EQ(usmoe_simd_target_name(&after), USMOE_STATUS_SUCCESS);
  EXPECT_STREQ(before, after);
}

// ---------------------------------------------------------------- router

struct RouterFixture {
  usmoe_router_config cfg;
  std::vector<float> w;
  RouterFixture(usmoe_policy p, int64_t N = 4, int64_t d = 3, double k = 2.0) {
    cfg = RouterConfig(p, N, d, k);
    w.assign(static_cast<size_t>(N * d), 0.25f);
    for (int64_t i = 0; i < N * d; ++i) w[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  }
  void ExpectCreate(const usmoe_router_config& c, usmoe_status want, const void* weights = nullptr) {
    usmoe_router* r = kRouterSentinel;
    EXPECT_STATUS(usmoe_router_create(&c, weights ? weights : w.data(), &r), want);
    EXPECT_EQ(r, kRouterSentinel) << "handle written on failure";
  }
};

TEST(CapiErrors, RouterCreateNulls) {
  RouterFixture f(USMOE_POLICY_UNIFIED);
  usmoe_router* r = kRouterSentinel;
  EXPECT_STATUS(usmoe_router_create(nullptr, f.w.data(), &r), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_router_create(&f.cfg, nullptr, &r), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r, kRouterSentinel);
  EXPECT_STATUS(usmoe_router_create(&f.cfg, f.w.data(), nullptr), USMOE_STATUS_INVALID_ARGUMENT);
}

TEST(CapiErrors, RouterConfigFields) {
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  for (usmoe_policy p : {USMOE_POLICY_TOKEN_CHOICE, USMOE_POLICY_EXPERT_CHOICE, USMOE_POLICY_UNIFIED}) {
    SCOPED_TRACE(PolicyName(p));
    RouterFixture f(p);
    auto with = [&](auto mutate) {
      usmoe_router_config c = f.cfg;
      mutate(c);
      return c;
    };
    f.ExpectCreate(with([](auto& c) { c.struct_size = 0; }), I);
    f.ExpectCreate(with([](auto& c) { c.struct_size = 16; }), I);
    f.ExpectCreate(with([](auto& c) { c.num_experts = 0; }), I);
    f.ExpectCreate(with([](auto& c) { c.num_experts = -4; }), I);
    f.ExpectCreate(with([](auto& c) { c.dim = 0; }), I);
    f.ExpectCreate(with([](auto& c) { c.dim = -3; }), I);
    f.ExpectCreate(with([](auto& c) { c.policy = 3; }), I);
    f.ExpectCreate(with([](auto& c) { c.policy = -1; }), I);
    f.ExpectCreate(with([](auto& c) { c.dtype = 2; }), I);
    f.ExpectCreate(with([](auto& c) { c.dtype = -1; }), I);
    f.ExpectCreate(with([](auto& c) { c.expert_score = 2; }), I);
    f.ExpectCreate(with([](auto& c) { c.gate_norm = 3; }), I);
    f.ExpectCreate(with([](auto& c) { c.gate_norm = -1; }), I);
    f.ExpectCreate(with([](auto& c) { c.alpha = -0.01; }), I);
    f.ExpectCreate(with([](auto& c) { c.alpha = 1.01; }), I);
    f.ExpectCreate(with([](auto& c) { c.alpha = std::nan(""); }), I);
    f.ExpectCreate(with([](auto& c) { c.k = std::nan(""); }), I);
    f.ExpectCreate(with([](auto& c) { c.k = INFINITY; }), I);
    f.ExpectCreate(with([](auto& c) { c.k = -1.0; }), I);
    f.ExpectCreate(with([](auto& c) { c.k = 4.5; }), I);  // > N = 4
    f.ExpectCreate(with([](auto& c) { c.k = 5.0; }), I);
  }
  // TOKEN_CHOICE: k an integer in [1, N]; a fractional k is rejected.
  RouterFixture tc(USMOE_POLICY_TOKEN_CHOICE);
  for (double k : {0.0, 1.5, 0.5, 3.999})
    tc.ExpectCreate([&] { auto c = tc.cfg; c.k = k; return c; }(), I);
  usmoe_router_config frac = tc.cfg;
  frac.k = 1.5;
  usmoe_router* r = kRouterSentinel;
  ASSERT_EQ(usmoe_router_create(&frac, tc.w.data(), &r), I);
  EXPECT_NE(std::string(usmoe_last_error()).find("k"), std::string::npos) << usmoe_last_error();
  // EXPERT_CHOICE: k in (0, N]; capacity_factor > 0 and finite.
  RouterFixture ec(USMOE_POLICY_EXPERT_CHOICE);
  ec.ExpectCreate([&] { auto c = ec.cfg; c.k = 0.0; return c; }(), I);
  for (double cf : {0.0, -1.0, static_cast<double>(INFINITY), std::nan("")})
    ec.ExpectCreate([&] { auto c = ec.cfg; c.capacity_factor = cf; return c; }(), I);
  // UNIFIED: k in [0, N], fractional allowed (k = 0 and k = N are valid).
  RouterFixture un(USMOE_POLICY_UNIFIED);
  un.ExpectCreate([&] { auto c = un.cfg; c.k = -0.5; return c; }(), I);
  un.ExpectCreate([&] { auto c = un.cfg; c.k = 4.01; return c; }(), I);
  for (double k : {0.0, 0.3, 4.0}) {
    usmoe_router_config c = un.cfg;
    c.k = k;
    RouterHandle ok;
    EXPECT_EQ(usmoe_router_create(&c, un.w.data(), &ok.r), USMOE_STATUS_SUCCESS)
        << "k=" << k << ": " << usmoe_last_error();
  }
}

TEST(CapiErrors, RouterNonFiniteWeight) {
  RouterFixture f(USMOE_POLICY_UNIFIED);
  for (float bad : {kNaN, kInf, -kInf}) {
    std::vector<float> w = f.w;
    w[2 * 3 + 1] = bad;  // expert 2, feature 1
    f.ExpectCreate(f.cfg, USMOE_STATUS_NON_FINITE_INPUT, w.data());
    const std::string msg = usmoe_last_error();
    EXPECT_NE(msg.find('2'), std::string::npos) << msg;
    EXPECT_NE(msg.find('1'), std::string::npos) << msg;
  }
  usmoe_router_config c = f.cfg;
  c.dtype = USMOE_DTYPE_BF16;
  for (uint16_t bad : {uint16_t{0x7FC0}, uint16_t{0x7F80}, uint16_t{0xFF80}}) {
    std::vector<uint16_t> wb(12, 0x3F80);
    wb[5] = bad;
    f.ExpectCreate(c, USMOE_STATUS_NON_FINITE_INPUT, wb.data());
  }
}

TEST(CapiErrors, ConfigInitAndGetConfig) {
  usmoe_router_config c;
  std::memset(&c, 0x77, sizeof(c));
  const std::vector<uint8_t> before(reinterpret_cast<uint8_t*>(&c),
                                    reinterpret_cast<uint8_t*>(&c) + sizeof(c));
  EXPECT_STATUS(usmoe_router_config_init(&c, 3), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_router_config_init(&c, -1), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(std::memcmp(before.data(), &c, sizeof(c)), 0) << "config written on failure";
  EXPECT_STATUS(usmoe_router_config_init(nullptr, USMOE_POLICY_UNIFIED),
                USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_experts_config_init(nullptr), USMOE_STATUS_INVALID_ARGUMENT);

  RouterFixture f(USMOE_POLICY_UNIFIED);
  RouterHandle r;
  ASSERT_EQ(usmoe_router_create(&f.cfg, f.w.data(), &r.r), USMOE_STATUS_SUCCESS);
  usmoe_router_config out;
  std::memset(&out, 0x33, sizeof(out));
  out.struct_size = 0;
  const std::vector<uint8_t> ob(reinterpret_cast<uint8_t*>(&out),
                                reinterpret_cast<uint8_t*>(&out) + sizeof(out));
  EXPECT_STATUS(usmoe_router_get_config(r.r, &out), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(std::memcmp(ob.data(), &out, sizeof(out)), 0);
  out.struct_size = sizeof(out);
  EXPECT_STATUS(usmoe_router_get_config(nullptr, &out), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_router_get_config(r.r, nullptr), USMOE_STATUS_INVALID_ARGUMENT);
  usmoe_router_destroy(nullptr);  // a no-op
  usmoe_plan_destroy(nullptr);
  usmoe_experts_destroy(nullptr);
}

// ----------------------------------------------------------------- route

// A router (N=4, d=3) and a plan already holding a successful route of
// T=5, so that "untouched" is checked against real content.
struct RouteFixture {
  RouterFixture f{USMOE_POLICY_UNIFIED};
  RouterHandle r;
  PlanHandle plan;
  std::vector<float> x;
  PlanCopy before;
  const void* before_ids = nullptr;
  RouteFixture() {
    f.cfg.keep_scores = 1;
    f.cfg.token_view = 1;
    EXPECT_EQ(usmoe_router_create(&f.cfg, f.w.data(), &r.r), USMOE_STATUS_SUCCESS);
    x.resize(5 * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.2f * static_cast<float>(i % 5) - 0.4f;
    EXPECT_EQ(usmoe_route(r.r, x.data(), 5, nullptr, 0, nullptr, plan.p), USMOE_STATUS_SUCCESS);
    before = CopyPlan(plan.p);
    before_ids = ViewIds();
  }
  const void* ViewIds() {
    usmoe_plan_view v;
    v.struct_size = sizeof(v);
    EXPECT_EQ(usmoe_plan_get_view(plan.p, &v), USMOE_STATUS_SUCCESS);
    return v.token_ids;
  }
  void ExpectPlanUntouched() {
    SCOPED_TRACE("plan after a failed route");
    ExpectPlansIdentical(before, CopyPlan(plan.p));
    EXPECT_EQ(ViewIds(), before_ids);
  }
};

TEST(CapiErrors, RouteArguments) {
  RouteFixture fx;
  ASSERT_EQ(fx.before.T, 5);
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  const float* x = fx.x.data();
  EXPECT_STATUS(usmoe_route(nullptr, x, 5, nullptr, 0, nullptr, fx.plan.p), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, nullptr, 5, nullptr, 0, nullptr, fx.plan.p), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, nullptr, 0, nullptr, nullptr), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 0, nullptr, 0, nullptr, fx.plan.p), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, x, -2, nullptr, 0, nullptr, fx.plan.p), I);
  const int64_t wrong_sum[] = {2, 2};
  const int64_t too_much[] = {3, 3};
  const int64_t negative[] = {7, -2};
  const int64_t ok[] = {2, 0, 3};
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, wrong_sum, 2, nullptr, fx.plan.p), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, too_much, 2, nullptr, fx.plan.p), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, negative, 2, nullptr, fx.plan.p), I);
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, nullptr, 2, nullptr, fx.plan.p), I);   // NULL, G != 0
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, ok, -1, nullptr, fx.plan.p), I);       // G < 0
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, ok, 0, nullptr, fx.plan.p), I);        // sum 0 != 5
  EXPECT_STATUS(usmoe_route(fx.r.r, x, 5, ok, 2, nullptr, fx.plan.p), I);        // sum 2 != 5
  fx.ExpectPlanUntouched();
  // The good groups do route (sanity: the fixture is valid).
  PlanHandle other;
  EXPECT_EQ(usmoe_route(fx.r.r, x, 5, ok, 3, nullptr, other.p), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
}

TEST(CapiErrors, RouteNonFiniteInput) {
  RouteFixture fx;
  for (float bad : {kNaN, kInf, -kInf}) {
    std::vector<float> x = fx.x;
    x[2 * 3 + 1] = bad;  // token 2, feature 1
    EXPECT_STATUS(usmoe_route(fx.r.r, x.data(), 5, nullptr, 0, nullptr, fx.plan.p),
                  USMOE_STATUS_NON_FINITE_INPUT);
    const std::string msg = usmoe_last_error();
    EXPECT_NE(msg.find("token"), std::string::npos) << msg;
    EXPECT_NE(msg.find('2'), std::string::npos) << msg;
    fx.ExpectPlanUntouched();
  }
  // Huge but finite X whose logits overflow f32: 1e30 · 1e9 = 1e39 > FLT_MAX.
  RouterFixture big(USMOE_POLICY_UNIFIED, 4, 3, 2.0);
  for (auto& v : big.w) v = 1e9f;
  RouterHandle rb;
  ASSERT_EQ(usmoe_router_create(&big.cfg, big.w.data(), &rb.r), USMOE_STATUS_SUCCESS);
  PlanHandle plan;
  std::vector<float> xs(5 * 3, 1e-3f);
  ASSERT_EQ(usmoe_route(rb.r, xs.data(), 5, nullptr, 0, nullptr, plan.p), USMOE_STATUS_SUCCESS);
  const PlanCopy before = CopyPlan(plan.p);
  xs[3 * 3 + 0] = 1e30f;  // token 3
  EXPECT_STATUS(usmoe_route(rb.r, xs.data(), 5, nullptr, 0, nullptr, plan.p),
                USMOE_STATUS_NON_FINITE_INPUT);
  EXPECT_NE(std::string(usmoe_last_error()).find('3'), std::string::npos) << usmoe_last_error();
  ExpectPlansIdentical(before, CopyPlan(plan.p));
  // bf16 X with NaN / Inf.
  RouterFixture fb(USMOE_POLICY_TOKEN_CHOICE);
  fb.cfg.dtype = USMOE_DTYPE_BF16;
  std::vector<uint16_t> wb(12, 0x3E80);  // 0.25
  RouterHandle rbf;
  ASSERT_EQ(usmoe_router_create(&fb.cfg, wb.data(), &rbf.r), USMOE_STATUS_SUCCESS);
  for (uint16_t bad : {uint16_t{0x7FC1}, uint16_t{0xFF80}}) {
    std::vector<uint16_t> xb(15, 0x3F80);
    xb[4] = bad;
    PlanHandle p;
    const PlanCopy empty = CopyPlan(p.p);
    EXPECT_STATUS(usmoe_route(rbf.r, xb.data(), 5, nullptr, 0, nullptr, p.p),
                  USMOE_STATUS_NON_FINITE_INPUT);
    ExpectPlansIdentical(empty, CopyPlan(p.p));
  }
}

TEST(CapiErrors, PlanView) {
  RouteFixture fx;
  EXPECT_STATUS(usmoe_plan_get_view(nullptr, nullptr), USMOE_STATUS_INVALID_ARGUMENT);
  usmoe_plan_view v;
  std::memset(&v, 0x5C, sizeof(v));
  v.struct_size = sizeof(v);
  EXPECT_STATUS(usmoe_plan_get_view(nullptr, &v), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_STATUS(usmoe_plan_get_view(fx.plan.p, nullptr), USMOE_STATUS_INVALID_ARGUMENT);
  for (int64_t size : {int64_t{0}, int64_t{8},
                       static_cast<int64_t>(offsetof(usmoe_plan_view, token_counts))}) {
    std::memset(&v, 0x5C, sizeof(v));
    v.struct_size = size;
    std::vector<uint8_t> b(reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + sizeof(v));
    EXPECT_STATUS(usmoe_plan_get_view(fx.plan.p, &v), USMOE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(std::memcmp(b.data(), &v, sizeof(v)), 0) << "view written on failure, size " << size;
  }
  // An older, smaller struct (up to token_counts) is filled up to its size only.
  std::memset(&v, 0x5C, sizeof(v));
  v.struct_size = offsetof(usmoe_plan_view, token_counts) + sizeof(v.token_counts);
  ASSERT_EQ(usmoe_plan_get_view(fx.plan.p, &v), USMOE_STATUS_SUCCESS) << usmoe_last_error();
  EXPECT_EQ(v.num_tokens, 5);
  EXPECT_NE(v.token_counts, nullptr);
  const uint8_t* tail = reinterpret_cast<const uint8_t*>(&v) + v.struct_size;
  for (size_t i = 0; i < sizeof(v) - static_cast<size_t>(v.struct_size); ++i)
    EXPECT_EQ(tail[i], 0x5C) << "byte " << i << " past struct_size written";
  // A fresh plan is empty.
  PlanHandle fresh;
  const PlanCopy e = CopyPlan(fresh.p);
  EXPECT_EQ(e.T, 0);
  EXPECT_EQ(e.c, 0);
  EXPECT_STATUS(usmoe_plan_create(nullptr), USMOE_STATUS_INVALID_ARGUMENT);
}

// --------------------------------------------------------------- kernels

TEST(CapiErrors, LogitsKernel) {
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  std::vector<float> x(2 * 3, 0.5f), w(4 * 3, 0.25f);
  auto out = Sentinel<float>(8, -123.0f);
  const auto ref = out;
  EXPECT_STATUS(usmoe_logits(nullptr, w.data(), USMOE_DTYPE_F32, 2, 4, 3, out.data()), I);
  EXPECT_STATUS(usmoe_logits(x.data(), nullptr, USMOE_DTYPE_F32, 2, 4, 3, out.data()), I);
  EXPECT_STATUS(usmoe_logits(x.data(), w.data(), USMOE_DTYPE_F32, 2, 4, 3, nullptr), I);
  EXPECT_STATUS(usmoe_logits(x.data(), w.data(), 5, 2, 4, 3, out.data()), I);
  EXPECT_STATUS(usmoe_logits(x.data(), w.data(), USMOE_DTYPE_F32, 0, 4, 3, out.data()), I);
  EXPECT_STATUS(usmoe_logits(x.data(), w.data(), USMOE_DTYPE_F32, 2, -4, 3, out.data()), I);
  EXPECT_STATUS(usmoe_logits(x.data(), w.data(), USMOE_DTYPE_F32, 2, 4, 0, out.data()), I);
  for (float bad : {kNaN, kInf, -kInf}) {
    auto xb = x;
    xb[4] = bad;
    EXPECT_STATUS(usmoe_logits(xb.data(), w.data(), USMOE_DTYPE_F32, 2, 4, 3, out.data()),
                  USMOE_STATUS_NON_FINITE_INPUT);
    auto wb = w;
    wb[7] = bad;
    EXPECT_STATUS(usmoe_logits(x.data(), wb.data(), USMOE_DTYPE_F32, 2, 4, 3, out.data()),
                  USMOE_STATUS_NON_FINITE_INPUT);
  }
  // Finite inputs whose dot product overflows.
  std::vector<float> xh(2 * 3, 1e30f), wh(4 * 3, 1e9f);
  EXPECT_STATUS(usmoe_logits(xh.data(), wh.data(), USMOE_DTYPE_F32, 2, 4, 3, out.data()),
                USMOE_STATUS_NON_FINITE_INPUT);
  EXPECT_TRUE(SameBytes(out, ref)) << "logits written on failure";
}

TEST(CapiErrors, ScoresKernel) {
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  std::vector<float> L(3 * 4, 0.5f);
  auto out = Sentinel<float>(12, -9.0f);
  const auto ref = out;
  const auto S = USMOE_EXPERT_SCORE_SIGMOID;
  EXPECT_STATUS(usmoe_scores(nullptr, 3, 4, 0.5, S, nullptr, 0, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, 0.5, S, nullptr, 0, nullptr, nullptr), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 0, 4, 0.5, S, nullptr, 0, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 0, 0.5, S, nullptr, 0, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, -0.5, S, nullptr, 0, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, 1.5, S, nullptr, 0, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, std::nan(""), S, nullptr, 0, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, 0.5, 7, nullptr, 0, nullptr, out.data()), I);
  const int64_t bad_groups[] = {1, 1};
  const int64_t neg_groups[] = {4, -1};
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, 0.5, S, bad_groups, 2, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, 0.5, S, neg_groups, 2, nullptr, out.data()), I);
  EXPECT_STATUS(usmoe_scores(L.data(), 3, 4, 0.5, S, nullptr, 1, nullptr, out.data()), I);
  for (float bad : {kNaN, kInf, -kInf}) {
    auto Lb = L;
    Lb[5] = bad;
    EXPECT_STATUS(usmoe_scores(Lb.data(), 3, 4, 0.5, S, nullptr, 0, nullptr, out.data()),
                  USMOE_STATUS_NON_FINITE_INPUT);
  }
  EXPECT_TRUE(SameBytes(out, ref)) << "scores written on failure";
}

TEST(CapiErrors, SelectKernels) {
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  std::vector<float> s(3 * 4);
  for (size_t i = 0; i < s.size(); ++i) s[i] = 0.1f * static_cast<float>(i);
  auto ids = Sentinel<int64_t>(16, -77);
  auto vals = Sentinel<float>(16, -7.0f);
  const auto ids0 = ids;
  const auto vals0 = vals;
  // Row top-k: k in [1, N].
  EXPECT_STATUS(usmoe_topk_rows(nullptr, 3, 4, 2, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topk_rows(s.data(), 3, 4, 2, nullptr, vals.data()), I);
  EXPECT_STATUS(usmoe_topk_rows(s.data(), 3, 4, 2, ids.data(), nullptr), I);
  EXPECT_STATUS(usmoe_topk_rows(s.data(), 3, 4, 0, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topk_rows(s.data(), 3, 4, 5, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topk_rows(s.data(), 0, 4, 1, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topk_rows(s.data(), 3, -1, 1, ids.data(), vals.data()), I);
  // Column top-C: C in [1, T].
  EXPECT_STATUS(usmoe_topc_cols(nullptr, 3, 4, 2, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topc_cols(s.data(), 3, 4, 0, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topc_cols(s.data(), 3, 4, 4, ids.data(), vals.data()), I);
  EXPECT_STATUS(usmoe_topc_cols(s.data(), 3, 4, 2, nullptr, vals.data()), I);
  auto sn = s;
  sn[7] = kNaN;
  EXPECT_STATUS(usmoe_topk_rows(sn.data(), 3, 4, 2, ids.data(), vals.data()),
                USMOE_STATUS_NON_FINITE_INPUT);
  EXPECT_STATUS(usmoe_topc_cols(sn.data(), 3, 4, 2, ids.data(), vals.data()),
                USMOE_STATUS_NON_FINITE_INPUT);
  // Global top-c: c in [0, n]; capacity < c: BUFFER_TOO_SMALL; NaN rejected.
  EXPECT_STATUS(usmoe_topc_global(nullptr, 12, 2, ids.data(), 16), I);
  EXPECT_STATUS(usmoe_topc_global(s.data(), 0, 0, ids.data(), 16), I);
  EXPECT_STATUS(usmoe_topc_global(s.data(), -3, 0, ids.data(), 16), I);
  EXPECT_STATUS(usmoe_topc_global(s.data(), 12, -1, ids.data(), 16), I);
  EXPECT_STATUS(usmoe_topc_global(s.data(), 12, 13, ids.data(), 16), I);
  EXPECT_STATUS(usmoe_topc_global(s.data(), 12, 3, nullptr, 16), I);
  EXPECT_STATUS(usmoe_topc_global(s.data(), 12, 5, ids.data(), 4), USMOE_STATUS_BUFFER_TOO_SMALL);
  EXPECT_STATUS(usmoe_topc_global(s.data(), 12, 12, ids.data(), 0), USMOE_STATUS_BUFFER_TOO_SMALL);
  EXPECT_STATUS(usmoe_topc_global(sn.data(), 12, 3, ids.data(), 16), USMOE_STATUS_NON_FINITE_INPUT);
  EXPECT_TRUE(SameBytes(ids, ids0)) << "ids written on failure";
  EXPECT_TRUE(SameBytes(vals, vals0)) << "values written on failure";
  // Large arrays take the sampled path, whose first counting pass is the
  // NaN check: a NaN anywhere (in the sample, in a vector, in the scalar
  // tail) is rejected and named, before any index is written, for every c.
  for (const int64_t n : {int64_t{1000}, int64_t{5003}, int64_t{100000}}) {
    std::vector<float> big(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) big[size_t(i)] = static_cast<float>((i * 7919) % 1013);
    // The sample's second position, frac(phi)·n in 32.32 fixed point.
    const int64_t sampled =
        static_cast<int64_t>(((0x9E3779B97F4A7C15u >> 32) * static_cast<uint64_t>(n)) >> 32);
    for (const int64_t at : {int64_t{0}, int64_t{1}, sampled, n / 2 + 3, n - 17, n - 1}) {
      for (const int64_t c : {int64_t{0}, int64_t{1}, n / 8, n - 1, n}) {
        auto bad = big;
        bad[size_t(at)] = kNaN;
        std::vector<int64_t> out(static_cast<size_t>(n), -7);
        const auto out0 = out;
        EXPECT_STATUS(usmoe_topc_global(bad.data(), n, c, out.data(), n),
                      USMOE_STATUS_NON_FINITE_INPUT);
        EXPECT_NE(std::string(usmoe_last_error()).find("[0][" + std::to_string(at) + "]"),
                  std::string::npos)
            << "n=" << n << " at=" << at << " c=" << c << ": " << usmoe_last_error();
        EXPECT_TRUE(SameBytes(out, out0)) << "n=" << n << " at=" << at << " c=" << c;
      }
    }
  }
  // c = 0 with a NULL buffer is valid; ±Inf are valid values.
  EXPECT_EQ(usmoe_topc_global(s.data(), 12, 0, nullptr, 0), USMOE_STATUS_SUCCESS);
  auto si = s;
  si[3] = kInf;
  si[4] = -kInf;
  ASSERT_EQ(usmoe_topc_global(si.data(), 12, 1, ids.data(), 1), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(ids[0], 3);
}

// ---------------------------------------------------------------- experts

struct ExpertsFixture {
  usmoe_experts_config cfg;
  int64_t N = 4, d = 3, f = 5;
  std::vector<float> w1, w3, w2, s1, s3, s2;
  ExpertsFixture() {
    EXPECT_EQ(usmoe_experts_config_init(&cfg), USMOE_STATUS_SUCCESS);
    cfg.num_experts = N;
    cfg.dim = d;
    cfg.hidden = f;
    w1.assign(N * f * d, 0.1f);
    w3.assign(N * f * d, 0.2f);
    w2.assign(N * d * f, -0.1f);
    s1.assign(f * d, 0.05f);
    s3.assign(f * d, 0.05f);
    s2.assign(d * f, 0.05f);
  }
  void ExpectCreate(const usmoe_experts_config& c, const void* a, const void* b, const void* cc,
                    const void* sa, const void* sb, const void* sc, usmoe_status want) {
    usmoe_experts* e = kExpertsSentinel;
    EXPECT_STATUS(usmoe_experts_create(&c, a, b, cc, sa, sb, sc, &e), want);
    EXPECT_EQ(e, kExpertsSentinel) << "handle written on failure";
  }
};

TEST(CapiErrors, ExpertsCreate) {
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  ExpertsFixture fx;
  const float *w1 = fx.w1.data(), *w3 = fx.w3.data(), *w2 = fx.w2.data();
  usmoe_experts* e = kExpertsSentinel;
  EXPECT_STATUS(usmoe_experts_create(nullptr, w1, w3, w2, nullptr, nullptr, nullptr, &e), I);
  EXPECT_STATUS(usmoe_experts_create(&fx.cfg, w1, w3, w2, nullptr, nullptr, nullptr, nullptr), I);
  EXPECT_EQ(e, kExpertsSentinel);
  fx.ExpectCreate(fx.cfg, nullptr, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(fx.cfg, w1, w3, nullptr, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(fx.cfg, w1, nullptr, w2, nullptr, nullptr, nullptr, I);  // SWIGLU needs w3
  auto with = [&](auto mutate) {
    usmoe_experts_config c = fx.cfg;
    mutate(c);
    return c;
  };
  fx.ExpectCreate(with([](auto& c) { c.struct_size = 0; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.num_experts = 0; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.dim = -1; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.hidden = 0; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.activation = 4; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.activation = -1; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.dtype = 2; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.num_shared = -1; }), w1, w3, w2, nullptr, nullptr, nullptr, I);
  // GELU/ReLU: w3 must be NULL.
  for (usmoe_activation a : {USMOE_ACTIVATION_GELU_TANH, USMOE_ACTIVATION_GELU_ERF,
                             USMOE_ACTIVATION_RELU})
    fx.ExpectCreate(with([&](auto& c) { c.activation = a; }), w1, w3, w2, nullptr, nullptr,
                    nullptr, I);
  // Shared experts: missing or extra weights, bad shared_hidden.
  const float *s1 = fx.s1.data(), *s3 = fx.s3.data(), *s2 = fx.s2.data();
  auto shared1 = with([](auto& c) { c.num_shared = 1; c.shared_hidden = 5; });
  fx.ExpectCreate(shared1, w1, w3, w2, nullptr, s3, s2, I);
  fx.ExpectCreate(shared1, w1, w3, w2, s1, nullptr, s2, I);
  fx.ExpectCreate(shared1, w1, w3, w2, s1, s3, nullptr, I);
  fx.ExpectCreate(with([](auto& c) { c.num_shared = 1; c.shared_hidden = 0; }), w1, w3, w2, s1,
                  s3, s2, I);
  fx.ExpectCreate(fx.cfg, w1, w3, w2, s1, s3, s2, I);  // num_shared = 0 with shared weights
  // Non-finite weights anywhere.
  for (float bad : {kNaN, kInf, -kInf}) {
    for (int which = 0; which < 6; ++which) {
      std::vector<std::vector<float>> ws = {fx.w1, fx.w3, fx.w2, fx.s1, fx.s3, fx.s2};
      ws[which][ws[which].size() / 2] = bad;
      fx.ExpectCreate(shared1, ws[0].data(), ws[1].data(), ws[2].data(), ws[3].data(),
                      ws[4].data(), ws[5].data(), USMOE_STATUS_NON_FINITE_INPUT);
    }
  }
  std::vector<uint16_t> b1(fx.w1.size(), 0x3DCD), b3(fx.w3.size(), 0x3DCD), b2(fx.w2.size(), 0x3DCD);
  b2[3] = 0x7FC0;
  fx.ExpectCreate(with([](auto& c) { c.dtype = USMOE_DTYPE_BF16; }), b1.data(), b3.data(),
                  b2.data(), nullptr, nullptr, nullptr, USMOE_STATUS_NON_FINITE_INPUT);
  // backend: unknown values name the field; ONEDNN is UNSUPPORTED in a build
  // without oneDNN (and creates where it is built in).
  for (int32_t bad : {-1, 3, 1000}) {
    fx.ExpectCreate(with([&](auto& c) { c.backend = bad; }), w1, w3, w2, nullptr, nullptr,
                    nullptr, I);
    EXPECT_NE(std::string(usmoe_last_error()).find("config->backend"), std::string::npos)
        << usmoe_last_error();
  }
  {
    ExpertsHandle h;
    const usmoe_experts_config c = with([](auto& c) { c.backend = USMOE_BACKEND_ONEDNN; });
    const usmoe_status st = usmoe_experts_create(&c, w1, w3, w2, nullptr, nullptr, nullptr, &h.e);
    if (st == USMOE_STATUS_UNSUPPORTED) {
      EXPECT_EQ(h.e, nullptr);
      EXPECT_NE(std::string(usmoe_last_error()).find("config->backend"), std::string::npos)
          << usmoe_last_error();
    } else {
      EXPECT_EQ(st, USMOE_STATUS_SUCCESS) << usmoe_last_error();
    }
  }
  for (int32_t b : {USMOE_BACKEND_AUTO, USMOE_BACKEND_HIGHWAY}) {
    ExpertsHandle h;
    const usmoe_experts_config c = with([&](auto& c) { c.backend = b; });
    EXPECT_EQ(usmoe_experts_create(&c, w1, w3, w2, nullptr, nullptr, nullptr, &h.e),
              USMOE_STATUS_SUCCESS)
        << usmoe_last_error();
  }
  // A caller built against 0.1 passes the struct without backend: accepted,
  // and the bytes past its size are not read (garbage there is ignored).
  {
    usmoe_experts_config c = fx.cfg;
    c.struct_size = static_cast<int64_t>(offsetof(usmoe_experts_config, backend));
    c.backend = 77;
    ExpertsHandle h;
    EXPECT_EQ(usmoe_experts_create(&c, w1, w3, w2, nullptr, nullptr, nullptr, &h.e),
              USMOE_STATUS_SUCCESS)
        << usmoe_last_error();
    fx.ExpectCreate(with([](auto& c) { c.struct_size = sizeof(usmoe_experts_config) + 8; }), w1,
                    w3, w2, nullptr, nullptr, nullptr, I);
  }
  // And the valid configuration does create.
  ExpertsHandle ok;
  EXPECT_EQ(usmoe_experts_create(&shared1, w1, w3, w2, s1, s3, s2, &ok.e), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
}

TEST(CapiErrors, ExpertsForward) {
  const int32_t I = USMOE_STATUS_INVALID_ARGUMENT;
  ExpertsFixture fx;  // N = 4, d = 3
  ExpertsHandle ex;
  ASSERT_EQ(usmoe_experts_create(&fx.cfg, fx.w1.data(), fx.w3.data(), fx.w2.data(), nullptr,
                                 nullptr, nullptr, &ex.e),
            USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  RouteFixture rf;  // router N = 4, plan with T = 5
  const int64_t T = 5, d = 3;
  std::vector<float> x(T * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.3f * static_cast<float>(i % 4) - 0.5f;
  auto y = Sentinel<float>(T * d, 42.0f);
  const auto y0 = y;
  EXPECT_STATUS(usmoe_experts_forward(nullptr, x.data(), T, rf.plan.p, y.data()), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, nullptr, T, rf.plan.p, y.data()), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), T, nullptr, y.data()), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), T, rf.plan.p, nullptr), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), 0, rf.plan.p, y.data()), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), 4, rf.plan.p, y.data()), I);  // T mismatch
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), 6, rf.plan.p, y.data()), I);
  PlanHandle empty;  // never routed: T = 0
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), T, empty.p, y.data()), I);
  for (float bad : {kNaN, kInf, -kInf}) {
    auto xb = x;
    xb[7] = bad;
    EXPECT_STATUS(usmoe_experts_forward(ex.e, xb.data(), T, rf.plan.p, y.data()),
                  USMOE_STATUS_NON_FINITE_INPUT);
  }
  EXPECT_TRUE(SameBytes(y, y0)) << "y written on failure";
  // Plan with a different N (router of 6 experts).
  RouterFixture f6(USMOE_POLICY_UNIFIED, 6, 3, 2.0);
  RouterHandle r6;
  ASSERT_EQ(usmoe_router_create(&f6.cfg, f6.w.data(), &r6.r), USMOE_STATUS_SUCCESS);
  PlanHandle p6;
  ASSERT_EQ(usmoe_route(r6.r, rf.x.data(), T, nullptr, 0, nullptr, p6.p), USMOE_STATUS_SUCCESS);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, x.data(), T, p6.p, y.data()), I);
  EXPECT_TRUE(SameBytes(y, y0)) << "y written on failure";
  // x and y overlap: the same buffer, and a shifted window of one buffer.
  std::vector<float> buf(T * d + 8, 0.25f);
  const auto buf0 = buf;
  EXPECT_STATUS(usmoe_experts_forward(ex.e, buf.data(), T, rf.plan.p, buf.data()), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, buf.data(), T, rf.plan.p, buf.data() + 5), I);
  EXPECT_STATUS(usmoe_experts_forward(ex.e, buf.data() + 5, T, rf.plan.p, buf.data()), I);
  EXPECT_TRUE(SameBytes(buf, buf0)) << "buffer written on failure";
  // Adjacent, non-overlapping x and y in one buffer are fine.
  std::vector<float> both(2 * T * d, 0.0f);
  std::copy(x.begin(), x.end(), both.begin());
  EXPECT_EQ(usmoe_experts_forward(ex.e, both.data(), T, rf.plan.p, both.data() + T * d),
            USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
}

}  // namespace
}  // namespace usmoe_test
