// Gate GEMM L = X·Wᵀ (T×d · d×N, f32 accumulation) of usmoe (usmoe_logits)
// against oneDNN matmul (when built with oneDNN), d = 2048, f32 and bf16;
// and the GEMM kernels themselves on prepacked weights (GemmBf16,
// GateLogitsF32, oneDNN bf16) at the router and expert-FFN shapes, with a
// probe of this core's vdpbf16ps / FMA peak.
// Counters: flop/s = 2*T*N*d / time (G prefix: GFLOP/s), cells/s = T*N /
// time, bytes/s = X + W read + L written.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_util.h"
#include "src/gate/logits.h"
#include "src/gemm/gemm_bf16.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <omp.h>

#ifdef USMOE_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace usmoe_microbench {
namespace {

constexpr int64_t kDim = 2048;

void SetGemmRates(benchmark::State& st, int64_t T, int64_t N, double elem_bytes,
                  int64_t dim = kDim) {
  const double d = double(dim);
  SetRates(st, double(T * N), elem_bytes * (double(T) * d + double(N) * d) + 4.0 * T * N,
           2.0 * double(T) * double(N) * d);
}

void RunLogits(benchmark::State& st, usmoe_dtype dtype) {
  const int64_t T = st.range(0), N = st.range(1);
  ThreadScope threads(st.range(2));
  const std::vector<float>& x = Uniform(T, kDim, 0);
  const std::vector<float>& w = Uniform(N, kDim, 1);
  std::vector<uint16_t> xb, wb;
  const void* xp = x.data();
  const void* wp = w.data();
  if (dtype == USMOE_DTYPE_BF16) {
    xb = ToBf16(x);
    wb = ToBf16(w);
    xp = xb.data();
    wp = wb.data();
  }
  std::vector<float> L(size_t(T * N));
  Check(st, usmoe_logits(xp, wp, dtype, T, N, kDim, L.data()));
  for (auto _ : st) {
    usmoe_logits(xp, wp, dtype, T, N, kDim, L.data());
    benchmark::DoNotOptimize(L.data());
    benchmark::ClobberMemory();
  }
  SetGemmRates(st, T, N, dtype == USMOE_DTYPE_BF16 ? 2.0 : 4.0);
}

void BM_Logits_F32(benchmark::State& st) { RunLogits(st, USMOE_DTYPE_F32); }
BENCHMARK(BM_Logits_F32)->Apply(ShapesAndThreads)->UseRealTime();

void BM_Logits_BF16(benchmark::State& st) { RunLogits(st, USMOE_DTYPE_BF16); }
BENCHMARK(BM_Logits_BF16)->Apply(ShapesAndThreads)->UseRealTime();

#ifdef USMOE_WITH_ONEDNN
// oneDNN runs on OpenMP's default thread count (OMP_NUM_THREADS). prepack:
// weights reordered once into oneDNN's preferred layout (not timed);
// otherwise W is read in place (N×d row-major = Wᵀ with tag ba), as
// usmoe_logits receives it.
void RunOnednn(benchmark::State& st, int64_t T, int64_t N, int64_t d, bool bf16,
               bool prepack) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const std::vector<float>& x = Uniform(T, d, 0);
  const std::vector<float>& w = Uniform(N, d, 1);
  std::vector<uint16_t> xb, wb;
  void* xp = const_cast<float*>(x.data());
  void* wp = const_cast<float*>(w.data());
  if (bf16) {
    xb = ToBf16(x);
    wb = ToBf16(w);
    xp = xb.data();
    wp = wb.data();
  }
  std::vector<float> L(size_t(T * N));
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const dt in = bf16 ? dt::bf16 : dt::f32;
    dnnl::memory::desc src_md({T, d}, in, tag::ab);
    dnnl::memory::desc wei_user({d, N}, in, tag::ba);
    dnnl::memory::desc wei_md = prepack ? dnnl::memory::desc({d, N}, in, tag::any) : wei_user;
    dnnl::memory::desc dst_md({T, N}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, dst_md), eng);
    dnnl::matmul mm(pd);
    dnnl::memory src(src_md, eng, xp), dst(dst_md, eng, L.data());
    dnnl::memory wei_u(wei_user, eng, wp), wei = wei_u;
    if (pd.weights_desc() != wei_user) {
      wei = dnnl::memory(pd.weights_desc(), eng);
      dnnl::reorder(wei_u, wei).execute(strm, wei_u, wei);
      strm.wait();
    }
    st.SetLabel(std::string(pd.impl_info_str()) + ", " +
                std::to_string(omp_get_max_threads()) + " OpenMP threads");
    for (auto _ : st) {
      mm.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
      strm.wait();
      benchmark::ClobberMemory();
    }
  } catch (const dnnl::error& e) {
    st.SkipWithError(e.what());
    return;
  }
  SetGemmRates(st, T, N, bf16 ? 2.0 : 4.0, d);
}

// oneDNN threads follow OMP_NUM_THREADS, so these rows carry no nthreads
// argument.
void ShapesOmpDefault(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "N"});
  for (const auto& s : Shapes()) b->Args({s.first, s.second});
}

void BM_OneDNN_F32(benchmark::State& st) {
  RunOnednn(st, st.range(0), st.range(1), kDim, false, false);
}
BENCHMARK(BM_OneDNN_F32)->Apply(ShapesOmpDefault)->UseRealTime();

void BM_OneDNN_F32_Prepacked(benchmark::State& st) {
  RunOnednn(st, st.range(0), st.range(1), kDim, false, true);
}
BENCHMARK(BM_OneDNN_F32_Prepacked)->Apply(ShapesOmpDefault)->UseRealTime();

void BM_OneDNN_BF16(benchmark::State& st) {
  RunOnednn(st, st.range(0), st.range(1), kDim, true, false);
}
BENCHMARK(BM_OneDNN_BF16)->Apply(ShapesOmpDefault)->UseRealTime();
#endif  // USMOE_WITH_ONEDNN

// ------------------------------------------------ GEMM kernels, prepacked W
// Args {M, N, K, nthreads}: the router shapes of the bf16 issue (T=4096 with
// N=64, d=2048 and N=8, d=4096) and one expert-FFN GEMM (64 tokens of an
// expert, f=1024, d=2048). Weights are packed once outside the timed loop,
// as a router or an experts object holds them.
void GemmShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "nthreads"});
  const int64_t shapes[][3] = {{4096, 64, 2048}, {4096, 8, 4096}, {64, 1024, 2048}};
  for (const auto& s : shapes)
    for (int64_t t : {1, 2}) b->Args({s[0], s[1], s[2], t});
}

void BM_Gemm_Bf16(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  ThreadScope threads(st.range(3));
  const std::vector<uint16_t> x = ToBf16(Uniform(M, K, 0)), w = ToBf16(Uniform(N, K, 1));
  std::vector<uint16_t> packed(usmoe::PackedBf16PairsSize(N, K));
  usmoe::PackBf16Pairs(w.data(), N, K, packed.data());
  std::vector<float> y(size_t(M * N));
  st.SetLabel(usmoe::CurrentGemmBf16Path() == usmoe::GemmBf16Path::kAvx512Bf16
                  ? "vdpbf16ps"
                  : "portable");
  for (auto _ : st) {
    usmoe::GemmBf16(x.data(), packed.data(), M, N, K, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGemmRates(st, M, N, 2.0, K);
}
BENCHMARK(BM_Gemm_Bf16)->Apply(GemmShapes)->UseRealTime();

void BM_Gemm_F32(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  ThreadScope threads(st.range(3));
  const std::vector<float>& x = Uniform(M, K, 0);
  const std::vector<float>& w = Uniform(N, K, 1);
  std::vector<float> packed(usmoe::PackedGateSize(N, K));
  usmoe::PackGateWeight(w.data(), N, K, packed.data());
  std::vector<float> y(size_t(M * N));
  for (auto _ : st) {
    usmoe::GateLogitsF32(x.data(), packed.data(), M, N, K, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGemmRates(st, M, N, 4.0, K);
}
BENCHMARK(BM_Gemm_F32)->Apply(GemmShapes)->UseRealTime();

#ifdef USMOE_WITH_ONEDNN
// oneDNN bf16 matmul (W read in place, tag ba) on nthreads OpenMP threads.
void BM_Gemm_OneDNN_Bf16(benchmark::State& st) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(static_cast<int>(st.range(3)));
  RunOnednn(st, st.range(0), st.range(1), st.range(2), true, false);
  omp_set_num_threads(before);
}
BENCHMARK(BM_Gemm_OneDNN_Bf16)->Apply(GemmShapes)->UseRealTime();
#endif

// ------------------------------------------------------- peak probes (1 core)
// 24 independent accumulator chains (the tiles' count), each step one
// vdpbf16ps (32 MACs) or one f32 FMA (16 MACs) on registers: the issue rate
// bound of this core, with no loads. flop/s counts 2 per MAC. (No compiler
// barrier is needed: a chain of rounded f32 additions cannot be folded.)
#if defined(__x86_64__) && defined(__GNUC__)
constexpr int kChains = 24;
constexpr int64_t kSteps = 1 << 16;

__attribute__((noinline, target("avx512f,avx512bw,avx512vl,avx512bf16"))) float Dpbf16Chains(float seed) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed * float(i));
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // (1.0, 1.0)
  const __m512bh b = (__m512bh)_mm512_set1_epi32(0x00010001);  // denormals: no overflow
  for (int64_t s = 0; s < kSteps; ++s) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((noinline, target("avx512f,fma"))) float FmaChains(float seed) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed * float(i));
  const __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1e-30f);
  for (int64_t s = 0; s < kSteps; ++s) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

void BM_Peak_Dpbf16(benchmark::State& st) {
  if (!__builtin_cpu_supports("avx512bf16")) {
    st.SkipWithError("no avx512_bf16 on this CPU");
    return;
  }
  for (auto _ : st) {
    float seed = 1.0f;
    benchmark::DoNotOptimize(seed);  // not hoisted out of the timed loop
    benchmark::DoNotOptimize(Dpbf16Chains(seed));
  }
  st.counters["flop/s"] = benchmark::Counter(double(kSteps) * kChains * 32 * 2,
                                             benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Peak_Dpbf16)->UseRealTime();

void BM_Peak_FmaF32(benchmark::State& st) {
  if (!__builtin_cpu_supports("avx512f")) {
    st.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  for (auto _ : st) {
    float seed = 1.0f;
    benchmark::DoNotOptimize(seed);  // not hoisted out of the timed loop
    benchmark::DoNotOptimize(FmaChains(seed));
  }
  st.counters["flop/s"] = benchmark::Counter(double(kSteps) * kChains * 16 * 2,
                                             benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Peak_FmaF32)->UseRealTime();
#endif

}  // namespace
}  // namespace usmoe_microbench
