// Thread safety as documented in usmoe.h: a router and an experts object are
// read-only after creation and may be shared by several threads, each routing
// into its own plan; and results never depend on the thread count.
//
// Uses only the public header. Every plan computed concurrently is compared
// exactly (offsets, token ids, weights bit for bit, counts, loads, per-token
// view, kept scores) with the plan computed single-threaded beforehand.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "usmoe/usmoe.h"

namespace {

// Small deterministic generator (splitmix64), so this file needs nothing else.
struct Mix {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float Sym() { return static_cast<float>((Next() >> 40) * (2.0 / 16777216.0) - 1.0); }
};

std::vector<float> Floats(uint64_t seed, size_t n, float scale) {
  Mix m{seed};
  std::vector<float> v(n);
  for (float& x : v) x = scale * m.Sym();
  return v;
}

// A deep copy of everything a plan view exposes.
struct PlanCopy {
  int64_t num_tokens = -1, num_experts = -1, num_selected = -1;
  std::vector<int64_t> offsets, token_ids, counts, loads, token_offsets, token_experts;
  std::vector<uint32_t> weights, scores, token_weights;  // bit patterns: exact compare

  bool operator==(const PlanCopy& o) const {
    return num_tokens == o.num_tokens && num_experts == o.num_experts &&
           num_selected == o.num_selected && offsets == o.offsets &&
           token_ids == o.token_ids && counts == o.counts && loads == o.loads &&
           token_offsets == o.token_offsets && token_experts == o.token_experts &&
           weights == o.weights && scores == o.scores && token_weights == o.token_weights;
  }
};

std::vector<uint32_t> Bits(const float* p, int64_t n) {
  std::vector<uint32_t> b(p ? n : 0);
  if (p && n > 0) std::memcpy(b.data(), p, sizeof(float) * n);
  return b;
}

template <typename T>
std::vector<T> Vec(const T* p, int64_t n) {
  return p && n > 0 ? std::vector<T>(p, p + n) : std::vector<T>();
}

// Returns false (instead of asserting) so that worker threads can use it.
bool CopyPlan(const usmoe_plan* plan, PlanCopy* out) {
  usmoe_plan_view v;
  std::memset(&v, 0, sizeof(v));
  v.struct_size = sizeof(v);
  if (usmoe_plan_get_view(plan, &v) != USMOE_STATUS_SUCCESS) return false;
  const int64_t T = v.num_tokens, N = v.num_experts, c = v.num_selected;
  out->num_tokens = T;
  out->num_experts = N;
  out->num_selected = c;
  out->offsets = Vec(v.expert_offsets, N + 1);
  out->token_ids = Vec(v.token_ids, c);
  out->weights = Bits(v.weights, c);
  out->counts = Vec(v.token_counts, T);
  out->loads = Vec(v.expert_loads, N);
  out->scores = Bits(v.scores, T * N);
  out->token_offsets = Vec(v.token_offsets, T + 1);
  out->token_experts = Vec(v.token_experts, c);
  out->token_weights = Bits(v.token_weights, c);
  return true;
}

constexpr int kThreads = 4;
constexpr int kRepeats = 20;
constexpr int64_t kN = 16, kD = 32, kF = 24;

// One routing problem per worker: different sizes, groups and masks.
struct Problem {
  int64_t T = 0;
  std::vector<float> x;
  std::vector<int64_t> groups;
  std::vector<uint8_t> valid;
};

Problem MakeProblem(int i) {
  Problem p;
  p.T = 7 + 13 * i;  // 7, 20, 33, 46 tokens
  p.x = Floats(1000 + i, static_cast<size_t>(p.T * kD), 1.5f);
  if (i % 2 == 1) {  // two groups, the second one with padding
    p.groups = {p.T / 3, p.T - p.T / 3};
    p.valid.assign(static_cast<size_t>(p.T), 1);
    for (int64_t t = p.T - 1; t >= p.T - 3; --t) p.valid[static_cast<size_t>(t)] = 0;
  }
  return p;
}

usmoe_status Route(const usmoe_router* r, const Problem& p, usmoe_plan* plan) {
  return usmoe_route(r, p.x.data(), p.T, p.groups.empty() ? nullptr : p.groups.data(),
                     static_cast<int64_t>(p.groups.size()),
                     p.valid.empty() ? nullptr : p.valid.data(), plan);
}

struct Objects {
  usmoe_router* router = nullptr;
  usmoe_experts* experts = nullptr;
  ~Objects() {
    usmoe_router_destroy(router);
    usmoe_experts_destroy(experts);
  }
};

void Create(usmoe_policy policy, Objects* o) {
  usmoe_router_config rc;
  ASSERT_EQ(usmoe_router_config_init(&rc, policy), USMOE_STATUS_SUCCESS);
  rc.num_experts = kN;
  rc.dim = kD;
  rc.k = policy == USMOE_POLICY_UNIFIED ? 2.5 : 3.0;
  rc.keep_scores = 1;
  rc.token_view = 1;
  rc.gate_norm = USMOE_GATE_NORM_SELECTED;
  const std::vector<float> w = Floats(7, kN * kD, 0.5f);
  ASSERT_EQ(usmoe_router_create(&rc, w.data(), &o->router), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();

  usmoe_experts_config ec;
  ASSERT_EQ(usmoe_experts_config_init(&ec), USMOE_STATUS_SUCCESS);
  ec.num_experts = kN;
  ec.dim = kD;
  ec.hidden = kF;
  ec.num_shared = 1;
  ec.shared_hidden = 8;
  const std::vector<float> w1 = Floats(11, kN * kF * kD, 0.2f);
  const std::vector<float> w3 = Floats(12, kN * kF * kD, 0.2f);
  const std::vector<float> w2 = Floats(13, kN * kD * kF, 0.2f);
  const std::vector<float> s1 = Floats(14, 8 * kD, 0.2f);
  const std::vector<float> s3 = Floats(15, 8 * kD, 0.2f);
  const std::vector<float> s2 = Floats(16, kD * 8, 0.2f);
  ASSERT_EQ(usmoe_experts_create(&ec, w1.data(), w3.data(), w2.data(), s1.data(), s3.data(),
                                 s2.data(), &o->experts),
            USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
}

class ConcurrencyTest : public ::testing::TestWithParam<usmoe_policy> {
 protected:
  void TearDown() override { usmoe_set_num_threads(0); }
};

TEST_P(ConcurrencyTest, SharedRouterAndExpertsGiveSingleThreadedResults) {
  Objects o;
  ASSERT_NO_FATAL_FAILURE(Create(GetParam(), &o));

  // Reference, single-threaded, before any concurrency.
  ASSERT_EQ(usmoe_set_num_threads(1), USMOE_STATUS_SUCCESS);
  std::vector<Problem> problems;
  std::vector<PlanCopy> want_plan(kThreads);
  std::vector<std::vector<uint32_t>> want_y(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    problems.push_back(MakeProblem(i));
    usmoe_plan* plan = nullptr;
    ASSERT_EQ(usmoe_plan_create(&plan), USMOE_STATUS_SUCCESS);
    ASSERT_EQ(Route(o.router, problems[i], plan), USMOE_STATUS_SUCCESS) << usmoe_last_error();
    ASSERT_TRUE(CopyPlan(plan, &want_plan[i]));
    EXPECT_GT(want_plan[i].num_selected, 0);
    std::vector<float> y(static_cast<size_t>(problems[i].T * kD));
    ASSERT_EQ(usmoe_experts_forward(o.experts, problems[i].x.data(), problems[i].T, plan,
                                    y.data()),
              USMOE_STATUS_SUCCESS)
        << usmoe_last_error();
    want_y[i] = Bits(y.data(), static_cast<int64_t>(y.size()));
    usmoe_plan_destroy(plan);
  }
  ASSERT_EQ(usmoe_set_num_threads(2), USMOE_STATUS_SUCCESS);  // OpenMP inside each thread too

  std::atomic<int> ready{0};
  std::vector<std::string> errors(kThreads);
  std::vector<int> mismatches(kThreads, 0);
  auto worker = [&](int i) {
    ready.fetch_add(1);
    while (ready.load() < kThreads) std::this_thread::yield();  // start together
    usmoe_plan* plan = nullptr;
    if (usmoe_plan_create(&plan) != USMOE_STATUS_SUCCESS) {
      errors[i] = "plan_create failed";
      return;
    }
    const Problem& p = problems[i];
    std::vector<float> y(static_cast<size_t>(p.T * kD));
    for (int rep = 0; rep < kRepeats; ++rep) {
      if (Route(o.router, p, plan) != USMOE_STATUS_SUCCESS) {
        errors[i] = std::string("usmoe_route: ") + usmoe_last_error();
        break;
      }
      PlanCopy got;
      if (!CopyPlan(plan, &got)) {
        errors[i] = "plan_get_view failed";
        break;
      }
      if (!(got == want_plan[i])) ++mismatches[i];
      std::fill(y.begin(), y.end(), -7.0f);
      if (usmoe_experts_forward(o.experts, p.x.data(), p.T, plan, y.data()) !=
          USMOE_STATUS_SUCCESS) {
        errors[i] = std::string("usmoe_experts_forward: ") + usmoe_last_error();
        break;
      }
      if (Bits(y.data(), static_cast<int64_t>(y.size())) != want_y[i]) ++mismatches[i];
    }
    usmoe_plan_destroy(plan);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(errors[i], "") << "thread " << i;
    EXPECT_EQ(mismatches[i], 0) << "thread " << i << " (T = " << problems[i].T
                                << "): results differ from the single-threaded ones";
  }
}

// A caller that runs its own OpenMP team and routes from inside it: the
// library then splits no work (a nested region would get one thread) and
// must index its per-worker scratch by its own worker, not the caller's
// thread number. Each of the caller's threads routes a problem large enough
// to be split outside a region, and gets the single-threaded results.
TEST_P(ConcurrencyTest, CallsFromInsideACallersOpenMPRegion) {
  Objects o;
  ASSERT_NO_FATAL_FAILURE(Create(GetParam(), &o));
  ASSERT_EQ(usmoe_set_num_threads(1), USMOE_STATUS_SUCCESS);
  constexpr int kCallers = 3;
  std::vector<Problem> problems;
  std::vector<PlanCopy> want_plan(kCallers);
  std::vector<std::vector<uint32_t>> want_y(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    Problem p;
    p.T = 2500 + 300 * i;  // T·N >= 40000 cells: above the parallel thresholds
    p.x = Floats(7 + i, static_cast<size_t>(p.T * kD), 2.0f);
    p.groups = {p.T - 700, 0, 700};
    p.valid.assign(static_cast<size_t>(p.T), 1);
    for (int64_t t = i; t < p.T; t += 13) p.valid[static_cast<size_t>(t)] = 0;
    usmoe_plan* plan = nullptr;
    ASSERT_EQ(usmoe_plan_create(&plan), USMOE_STATUS_SUCCESS);
    ASSERT_EQ(Route(o.router, p, plan), USMOE_STATUS_SUCCESS) << usmoe_last_error();
    ASSERT_TRUE(CopyPlan(plan, &want_plan[i]));
    std::vector<float> y(static_cast<size_t>(p.T * kD));
    ASSERT_EQ(usmoe_experts_forward(o.experts, p.x.data(), p.T, plan, y.data()),
              USMOE_STATUS_SUCCESS)
        << usmoe_last_error();
    want_y[i] = Bits(y.data(), static_cast<int64_t>(y.size()));
    usmoe_plan_destroy(plan);
    problems.push_back(std::move(p));
  }
  ASSERT_EQ(usmoe_set_num_threads(2), USMOE_STATUS_SUCCESS);
  std::vector<std::string> errors(kCallers);
  std::vector<int> mismatches(kCallers, 0);
#pragma omp parallel for num_threads(kCallers) schedule(static, 1)
  for (int i = 0; i < kCallers; ++i) {
    usmoe_plan* plan = nullptr;
    if (usmoe_plan_create(&plan) != USMOE_STATUS_SUCCESS) {
      errors[i] = "plan_create failed";
      continue;
    }
    const Problem& p = problems[i];
    std::vector<float> y(static_cast<size_t>(p.T * kD), -7.0f);
    PlanCopy got;
    if (Route(o.router, p, plan) != USMOE_STATUS_SUCCESS) {
      errors[i] = std::string("usmoe_route: ") + usmoe_last_error();
    } else if (!CopyPlan(plan, &got)) {
      errors[i] = "plan_get_view failed";
    } else if (usmoe_experts_forward(o.experts, p.x.data(), p.T, plan, y.data()) !=
               USMOE_STATUS_SUCCESS) {
      errors[i] = std::string("usmoe_experts_forward: ") + usmoe_last_error();
    } else {
      mismatches[i] = (got == want_plan[i] ? 0 : 1) +
                      (Bits(y.data(), static_cast<int64_t>(y.size())) == want_y[i] ? 0 : 1);
    }
    usmoe_plan_destroy(plan);
  }
  for (int i = 0; i < kCallers; ++i) {
    EXPECT_EQ(errors[i], "") << "caller thread " << i;
    EXPECT_EQ(mismatches[i], 0) << "caller thread " << i
                                << ": plan or output differs from the single-threaded one";
  }
}

TEST_P(ConcurrencyTest, ThreadCountDoesNotChangeThePlan) {
  Objects o;
  ASSERT_NO_FATAL_FAILURE(Create(GetParam(), &o));
  // Large enough that the parallel regions really split the work.
  Problem p;
  p.T = 2500;  // T·N = 40000 cells: above the library's parallel thresholds
  p.x = Floats(99, static_cast<size_t>(p.T * kD), 2.0f);
  p.groups = {1100, 0, 900, 500};
  p.valid.assign(static_cast<size_t>(p.T), 1);
  for (int64_t t = 0; t < p.T; t += 17) p.valid[static_cast<size_t>(t)] = 0;

  PlanCopy want;
  std::vector<uint32_t> want_y;
  for (int32_t n : {1, 2, 3}) {
    SCOPED_TRACE("threads=" + std::to_string(n));
    ASSERT_EQ(usmoe_set_num_threads(n), USMOE_STATUS_SUCCESS);
    int32_t got_n = 0;
    ASSERT_EQ(usmoe_get_num_threads(&got_n), USMOE_STATUS_SUCCESS);
    EXPECT_EQ(got_n, n);
    usmoe_plan* plan = nullptr;
    ASSERT_EQ(usmoe_plan_create(&plan), USMOE_STATUS_SUCCESS);
    ASSERT_EQ(Route(o.router, p, plan), USMOE_STATUS_SUCCESS) << usmoe_last_error();
    PlanCopy got;
    ASSERT_TRUE(CopyPlan(plan, &got));
    std::vector<float> y(static_cast<size_t>(p.T * kD));
    ASSERT_EQ(usmoe_experts_forward(o.experts, p.x.data(), p.T, plan, y.data()),
              USMOE_STATUS_SUCCESS)
        << usmoe_last_error();
    usmoe_plan_destroy(plan);
    if (n == 1) {
      want = got;
      want_y = Bits(y.data(), static_cast<int64_t>(y.size()));
    } else {
      EXPECT_TRUE(got == want) << "plan differs from the 1-thread plan";
      EXPECT_TRUE(Bits(y.data(), static_cast<int64_t>(y.size())) == want_y)
          << "experts output differs from the 1-thread output";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ConcurrencyTest,
                         ::testing::Values(USMOE_POLICY_TOKEN_CHOICE,
                                           USMOE_POLICY_EXPERT_CHOICE, USMOE_POLICY_UNIFIED),
                         [](const ::testing::TestParamInfo<usmoe_policy>& info) {
                           switch (info.param) {
                             case USMOE_POLICY_TOKEN_CHOICE: return std::string("TokenChoice");
                             case USMOE_POLICY_EXPERT_CHOICE: return std::string("ExpertChoice");
                             default: return std::string("Unified");
                           }
                         });

}  // namespace
