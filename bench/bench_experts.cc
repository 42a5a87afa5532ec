// MoE expert layer forward (usmoe_experts_forward) on an OLMoE-like shape:
// d = 2048, N = 64 experts, k = 8 (token choice), f = 1024, SwiGLU, for
// T = 1, 32, 512 tokens, f32 and bf16 weights, each backend.
//
// Counters: flop/s = active FLOPs (2·3·d·f per selected (token, expert)
// pair) / time; bytes/s = the weights of the experts the plan uses (each
// read once, at the weights' element size) / time, the figure that bounds
// decoding. The weights (1.6 GB f32) are created once per (dtype, backend)
// and kept until the next combination, so run with a filter that groups
// them (the registration order already does).
//
//   ./build/usmoe_microbench --benchmark_filter=BM_Experts \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"

namespace usmoe_microbench {
namespace {

constexpr int64_t kD = 2048, kN = 64, kF = 1024, kK = 8;

// The backends of the header this file is built with (AUTO only before 0.2).
#ifdef USMOE_BACKEND_ONEDNN
constexpr int kBackends[] = {USMOE_BACKEND_HIGHWAY, USMOE_BACKEND_ONEDNN};
#else
constexpr int kBackends[] = {0};
#endif

// Uniform weights in ±sqrt(3/fan_in) (unit-variance activations), from a
// counter hash: 400 M values in a few seconds.
std::vector<float> Weights(int64_t n, int64_t fan_in, uint64_t seed) {
  std::vector<float> w(static_cast<size_t>(n));
  const double a = std::sqrt(3.0 / double(fan_in));
  Rng r(seed);
  for (auto& v : w) v = static_cast<float>(a * (2.0 * r.Uniform() - 1.0));
  return w;
}

// The experts object of the last (dtype, backend) asked for.
struct ExpertsCache {
  usmoe_dtype dtype = -1;
  int backend = -1;
  usmoe_experts* experts = nullptr;
  usmoe_status status = USMOE_STATUS_SUCCESS;
  std::string error;
  ~ExpertsCache() { usmoe_experts_destroy(experts); }
};

usmoe_experts* GetExperts(benchmark::State& st, usmoe_dtype dtype, int backend) {
  static ExpertsCache cache;
  if (cache.dtype != dtype || cache.backend != backend) {
    usmoe_experts_destroy(cache.experts);
    cache.experts = nullptr;
    cache.dtype = dtype;
    cache.backend = backend;
    usmoe_experts_config cfg;
    usmoe_experts_config_init(&cfg);
    cfg.num_experts = kN;
    cfg.dim = kD;
    cfg.hidden = kF;
#ifdef USMOE_BACKEND_ONEDNN
    cfg.backend = backend;
#endif
    cfg.dtype = dtype;
    std::vector<float> w1 = Weights(kN * kF * kD, kD, 11), w3 = Weights(kN * kF * kD, kD, 13);
    std::vector<float> w2 = Weights(kN * kD * kF, kF, 17);
    if (dtype == USMOE_DTYPE_BF16) {
      const std::vector<uint16_t> b1 = ToBf16(w1), b3 = ToBf16(w3), b2 = ToBf16(w2);
      w1 = w3 = w2 = {};
      cache.status = usmoe_experts_create(&cfg, b1.data(), b3.data(), b2.data(), nullptr,
                                          nullptr, nullptr, &cache.experts);
    } else {
      cache.status = usmoe_experts_create(&cfg, w1.data(), w3.data(), w2.data(), nullptr,
                                          nullptr, nullptr, &cache.experts);
    }
    cache.error = cache.status ? usmoe_last_error() : "";
  }
  if (cache.status) {
    st.SkipWithError((std::string(usmoe_status_string(cache.status)) + ": " + cache.error).c_str());
    return nullptr;
  }
  return cache.experts;
}

void BM_Experts(benchmark::State& st) {
  const int64_t T = st.range(0);
  const usmoe_dtype dtype = static_cast<usmoe_dtype>(st.range(1));
  const int backend = static_cast<int>(st.range(2));
  ThreadScope threads(st.range(3));
  usmoe_experts* ex = GetExperts(st, dtype, backend);
  if (!ex) return;
  // Token-choice top-8 of a random router: every token has 8 experts.
  usmoe_router_config rc;
  usmoe_router_config_init(&rc, USMOE_POLICY_TOKEN_CHOICE);
  rc.num_experts = kN;
  rc.dim = kD;
  rc.k = kK;
  rc.gate_norm = USMOE_GATE_NORM_SELECTED;
  const std::vector<float>& wr = Uniform(kN, kD, 5);
  const std::vector<float>& x = Uniform(T, kD, 7);
  usmoe_router* router = nullptr;
  usmoe_plan* plan = nullptr;
  Check(st, usmoe_router_create(&rc, wr.data(), &router));
  Check(st, usmoe_plan_create(&plan));
  Check(st, usmoe_route(router, x.data(), T, nullptr, 0, nullptr, plan));
  usmoe_plan_view v;
  v.struct_size = sizeof(v);
  usmoe_plan_get_view(plan, &v);
  int64_t active = 0;
  for (int64_t e = 0; e < kN; ++e) active += v.expert_loads[e] > 0;
  std::vector<float> y(static_cast<size_t>(T * kD));
  Check(st, usmoe_experts_forward(ex, x.data(), T, plan, y.data()));  // warm-up
  for (auto _ : st) {
    usmoe_experts_forward(ex, x.data(), T, plan, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double elem = dtype == USMOE_DTYPE_BF16 ? 2.0 : 4.0;
  SetRates(st, double(v.num_selected), elem * 3.0 * kD * kF * double(active),
           6.0 * kD * kF * double(v.num_selected));
  st.counters["active_experts"] = double(active);
  usmoe_plan_destroy(plan);
  usmoe_router_destroy(router);
}

void ExpertArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "bf16", "backend", "nthreads"});
  for (usmoe_dtype dt : {USMOE_DTYPE_F32, USMOE_DTYPE_BF16})
    for (int be : kBackends)
      for (int64_t T : {1, 32, 512})
        for (int64_t th : {1, 2}) b->Args({T, dt, be, th});
}
BENCHMARK(BM_Experts)->Apply(ExpertArgs)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace usmoe_microbench
