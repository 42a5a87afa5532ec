// The bf16 dot-product peak (vdpbf16ps), measured like the f32 FMA peak:
// 12 independent accumulator chains per thread. Raw intrinsics in a
// function with its own target attribute (Highway 1.0.3 has no such op);
// 0 where the CPU or the compiler lacks AVX512_BF16.
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "bench/usmoe_bench/probe.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

namespace usmoe_bench {
namespace {

__attribute__((target("avx512f,avx512bf16"))) float DotChains(int64_t iters, int64_t* flops) {
  __m512 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(0.001f * float(j));
  const __m512i x = _mm512_set1_epi32(0x3F803F80);  // (1.0, 1.0) bf16 pairs
  const __m512i y = _mm512_set1_epi32(0x33D633D6);  // tiny: no overflow
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbf16_ps(a[j], (__m512bh)x, (__m512bh)y);
  *flops = iters * 12 * 16 * 4;  // 16 lanes, 2 products + 2 adds each
  __m512 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, a[j]);
  return _mm512_reduce_add_ps(s);
}

volatile float g_sink_bf16;

}  // namespace

double ProbeBf16DotPeak(int threads) {
  if (!__builtin_cpu_supports("avx512bf16")) return 0;
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    int64_t total = 0;
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total, sink)
    {
      int64_t f = 0;
      sink += DotChains(2 << 20, &f);
      total += f;
    }
    g_sink_bf16 = sink;
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(total) / sec / 1e9);
  }
  return best;
}

}  // namespace usmoe_bench

#else

namespace usmoe_bench {
double ProbeBf16DotPeak(int) { return 0; }
}  // namespace usmoe_bench

#endif
