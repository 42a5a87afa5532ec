// FMA peak: 12 independent multiply-add chains per thread (enough to cover
// the FMA latency × pipes of current cores) on the widest target Highway
// dispatches to. Bandwidth: a parallel vector sum over 256 MiB, far beyond
// any cache, best of three passes.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/usmoe_bench/probe.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "bench/usmoe_bench/probe.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe_bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Returns a value that depends on every chain so nothing is optimised away.
float FmaChains(int64_t iters, int64_t* flops) {
  const hn::ScalableTag<float> d;
  auto a0 = hn::Set(d, 1.0f), a1 = hn::Set(d, 1.1f), a2 = hn::Set(d, 1.2f), a3 = hn::Set(d, 1.3f);
  auto a4 = hn::Set(d, 1.4f), a5 = hn::Set(d, 1.5f), a6 = hn::Set(d, 1.6f), a7 = hn::Set(d, 1.7f);
  auto a8 = hn::Set(d, 1.8f), a9 = hn::Set(d, 1.9f), a10 = hn::Set(d, 2.0f), a11 = hn::Set(d, 2.1f);
  const auto m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c); a1 = hn::MulAdd(a1, m, c); a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c); a4 = hn::MulAdd(a4, m, c); a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c); a7 = hn::MulAdd(a7, m, c); a8 = hn::MulAdd(a8, m, c);
    a9 = hn::MulAdd(a9, m, c); a10 = hn::MulAdd(a10, m, c); a11 = hn::MulAdd(a11, m, c);
  }
  *flops = iters * 12 * 2 * static_cast<int64_t>(hn::Lanes(d));
  auto s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)));
  s = hn::Add(s, hn::Add(hn::Add(a8, a9), hn::Add(a10, a11)));
  return hn::GetLane(hn::SumOfLanes(d, s));
}

float SumStream(const float* p, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = hn::Add(s0, hn::LoadU(d, p + i));
    s1 = hn::Add(s1, hn::LoadU(d, p + i + L));
    s2 = hn::Add(s2, hn::LoadU(d, p + i + 2 * L));
    s3 = hn::Add(s3, hn::LoadU(d, p + i + 3 * L));
  }
  float t = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) t += p[i];
  return t;
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe_bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe_bench {
HWY_EXPORT(FmaChains);
HWY_EXPORT(SumStream);

namespace {
double Seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}
volatile float g_sink;  // keeps the probes' results alive
}  // namespace

Limits ProbeLimits(int threads) {
  Limits lim;
  lim.threads = threads;
  // FMA: ~50 ms per pass, best of five (a descheduled pass reads low).
  const int64_t iters = 4 << 20;
  for (int pass = 0; pass < 5; ++pass) {
    int64_t total = 0;
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total, sink)
    {
      int64_t f = 0;
      sink += HWY_DYNAMIC_DISPATCH(FmaChains)(iters, &f);
      total += f;
    }
    g_sink = sink;
    lim.fma_gflops = std::max(lim.fma_gflops, static_cast<double>(total) / Seconds(t0) / 1e9);
  }
  // Bandwidth: each thread first touches its own slice (pages land near it).
  const int64_t n = int64_t{64} << 20;  // 256 MiB of floats
  std::vector<float> buf(n);
  const int64_t slice = (n + threads - 1) / threads;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t)
    std::fill(buf.begin() + t * slice, buf.begin() + std::min(n, (t + 1) * slice), 1.0f);
  for (int pass = 0; pass < 3; ++pass) {
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sink)
    for (int t = 0; t < threads; ++t) {
      const int64_t b = t * slice, e = std::min(n, b + slice);
      sink += HWY_DYNAMIC_DISPATCH(SumStream)(buf.data() + b, e - b);
    }
    g_sink = sink;
    lim.dram_gbps = std::max(lim.dram_gbps, static_cast<double>(n) * 4 / Seconds(t0) / 1e9);
  }
  lim.bf16_gflops = ProbeBf16DotPeak(threads);
  return lim;
}

}  // namespace usmoe_bench
#endif  // HWY_ONCE
