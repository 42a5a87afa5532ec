// experts_ab: the MoE forward of bench_experts.cc (d 2048, N 64, top-8,
// f 1024, SwiGLU) run on several libusmoe.so builds and backends in one
// process, calls interleaved, so every variant sees the same machine
// conditions (the 2-core development VM is shared and its speed drifts by
// 2x within minutes). Each library is loaded with dlopen(RTLD_LOCAL).
//
//   experts_ab T dtype LIB:BACKEND [LIB:BACKEND ...]
//     T        tokens per forward (token-choice top-8: T·8 pairs)
//     dtype    0 = f32 weights, 1 = bf16 weights
//     BACKEND  a usmoe_backend value, or -1 to pass the 0.1-sized config
//              (a library from before usmoe_experts_config.backend)
//   env: THREADS (usmoe_set_num_threads, default 2), REPS (default 7)
//
// Prints the first call (oneDNN primitive creation included) and the
// median/min/max of REPS further calls with active GFLOP/s (2·3·d·f per pair).
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "usmoe/usmoe.h"

namespace {

constexpr int64_t kD = 2048, kN = 64, kF = 1024, kK = 8;

struct Api {
  decltype(&usmoe_experts_create) experts_create;
  decltype(&usmoe_experts_forward) experts_forward;
  decltype(&usmoe_router_config_init) router_config_init;
  decltype(&usmoe_router_create) router_create;
  decltype(&usmoe_plan_create) plan_create;
  decltype(&usmoe_route) route;
  decltype(&usmoe_set_num_threads) set_num_threads;
  decltype(&usmoe_last_error) last_error;
};

template <class F>
F Symbol(void* lib, const char* name) {
  auto f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) {
    std::fprintf(stderr, "experts_ab: %s not found\n", name);
    std::exit(1);
  }
  return f;
}

Api Load(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "experts_ab: %s\n", dlerror());
    std::exit(1);
  }
  return Api{Symbol<decltype(Api::experts_create)>(lib, "usmoe_experts_create"),
             Symbol<decltype(Api::experts_forward)>(lib, "usmoe_experts_forward"),
             Symbol<decltype(Api::router_config_init)>(lib, "usmoe_router_config_init"),
             Symbol<decltype(Api::router_create)>(lib, "usmoe_router_create"),
             Symbol<decltype(Api::plan_create)>(lib, "usmoe_plan_create"),
             Symbol<decltype(Api::route)>(lib, "usmoe_route"),
             Symbol<decltype(Api::set_num_threads)>(lib, "usmoe_set_num_threads"),
             Symbol<decltype(Api::last_error)>(lib, "usmoe_last_error")};
}

// Uniform in ±sqrt(3/fan_in), from a 64-bit LCG (fast for 400 M values).
std::vector<float> Weights(int64_t n, int64_t fan_in, uint64_t* state) {
  std::vector<float> w(static_cast<size_t>(n));
  const double a = std::sqrt(3.0 / double(fan_in));
  for (auto& v : w) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<float>(a * (double(*state >> 11) * 0x1p-52 - 1.0));
  }
  return w;
}

std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    o[i] = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  return o;
}

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Variant {
  std::string name;
  Api api;
  usmoe_experts* experts = nullptr;
  usmoe_plan* plan = nullptr;
  std::vector<double> ms;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: experts_ab T dtype(0|1) LIB:BACKEND [LIB:BACKEND ...]\n");
    return 2;
  }
  const int64_t T = std::atoll(argv[1]);
  const usmoe_dtype dtype = std::atoi(argv[2]);
  const int threads = std::getenv("THREADS") ? std::atoi(std::getenv("THREADS")) : 2;
  const int reps = std::getenv("REPS") ? std::atoi(std::getenv("REPS")) : 7;
  uint64_t state = 1;
  std::vector<float> w1 = Weights(kN * kF * kD, kD, &state), w3 = Weights(kN * kF * kD, kD, &state);
  std::vector<float> w2 = Weights(kN * kD * kF, kF, &state);
  const std::vector<float> wr = Weights(kN * kD, 3, &state), x = Weights(T * kD, 3, &state);
  std::vector<uint16_t> b1, b3, b2;
  if (dtype == USMOE_DTYPE_BF16) {
    b1 = ToBf16(w1), b3 = ToBf16(w3), b2 = ToBf16(w2);
    w1 = w3 = w2 = {};
  }
  std::vector<Variant> vs;
  for (int i = 3; i < argc; ++i) {
    Variant v;
    v.name = argv[i];
    const size_t colon = v.name.rfind(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "experts_ab: %s: expected LIB:BACKEND\n", argv[i]);
      return 2;
    }
    const int backend = std::atoi(v.name.c_str() + colon + 1);
    v.api = Load(v.name.substr(0, colon));
    usmoe_experts_config cfg;
    std::memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = backend < 0 ? static_cast<int64_t>(offsetof(usmoe_experts_config, backend))
                                  : static_cast<int64_t>(sizeof(cfg));
    cfg.backend = backend < 0 ? 0 : backend;
    cfg.num_experts = kN;
    cfg.dim = kD;
    cfg.hidden = kF;
    cfg.dtype = dtype;
    const bool bf16 = dtype == USMOE_DTYPE_BF16;
    const void* p1 = bf16 ? static_cast<const void*>(b1.data()) : w1.data();
    const void* p3 = bf16 ? static_cast<const void*>(b3.data()) : w3.data();
    const void* p2 = bf16 ? static_cast<const void*>(b2.data()) : w2.data();
    usmoe_router_config rc;
    usmoe_router* router = nullptr;
    if (v.api.experts_create(&cfg, p1, p3, p2, nullptr, nullptr, nullptr, &v.experts) ||
        v.api.router_config_init(&rc, USMOE_POLICY_TOKEN_CHOICE) ||
        (rc.num_experts = kN, rc.dim = kD, rc.k = kK, rc.gate_norm = USMOE_GATE_NORM_SELECTED,
         v.api.router_create(&rc, wr.data(), &router)) ||
        v.api.plan_create(&v.plan) ||
        v.api.route(router, x.data(), T, nullptr, 0, nullptr, v.plan)) {
      std::fprintf(stderr, "experts_ab: %s: %s\n", argv[i], v.api.last_error());
      return 1;
    }
    vs.push_back(std::move(v));
  }
  std::vector<float> y(static_cast<size_t>(T * kD));
  for (Variant& v : vs) {
    v.api.set_num_threads(threads);
    const auto t0 = std::chrono::steady_clock::now();
    v.api.experts_forward(v.experts, x.data(), T, v.plan, y.data());
    std::printf("first call %-40s %9.2f ms\n", v.name.c_str(), Ms(t0));
  }
  for (int r = 0; r < reps; ++r)
    for (Variant& v : vs) {
      v.api.set_num_threads(threads);
      const auto t0 = std::chrono::steady_clock::now();
      v.api.experts_forward(v.experts, x.data(), T, v.plan, y.data());
      v.ms.push_back(Ms(t0));
    }
  const double flop = 6.0 * kD * kF * double(T * kK);
  for (Variant& v : vs) {
    std::sort(v.ms.begin(), v.ms.end());
    const double med = v.ms[v.ms.size() / 2];
    std::printf("T=%-4lld %s %-40s median %8.2f ms  min %8.2f  max %8.2f  %6.1f GFLOP/s\n",
                static_cast<long long>(T), dtype ? "bf16" : "f32 ", v.name.c_str(), med,
                v.ms.front(), v.ms.back(), flop / med / 1e6);
  }
  return 0;
}
