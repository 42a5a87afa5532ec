// Gate GEMM L = X·Wᵀ (T×d · d×N, f32 accumulation) of usmoe (usmoe_logits)
// against oneDNN matmul (when built with oneDNN), d = 2048, f32 and bf16.
// Counters: flop/s = 2*T*N*d / time (G prefix: GFLOP/s), cells/s = T*N /
// time, bytes/s = X + W read + L written.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_util.h"

#ifdef USMOE_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace usmoe_microbench {
namespace {

constexpr int64_t kDim = 2048;

void SetGemmRates(benchmark::State& st, int64_t T, int64_t N, double elem_bytes) {
  const double d = double(kDim);
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
void RunOnednn(benchmark::State& st, bool bf16, bool prepack) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const int64_t T = st.range(0), N = st.range(1);
  const std::vector<float>& x = Uniform(T, kDim, 0);
  const std::vector<float>& w = Uniform(N, kDim, 1);
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
    dnnl::memory::desc src_md({T, kDim}, in, tag::ab);
    dnnl::memory::desc wei_user({kDim, N}, in, tag::ba);
    dnnl::memory::desc wei_md = prepack ? dnnl::memory::desc({kDim, N}, in, tag::any) : wei_user;
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
    st.SetLabel(std::string(pd.impl_info_str()) + ", OMP_NUM_THREADS threads");
    for (auto _ : st) {
      mm.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
      strm.wait();
      benchmark::ClobberMemory();
    }
  } catch (const dnnl::error& e) {
    st.SkipWithError(e.what());
    return;
  }
  SetGemmRates(st, T, N, bf16 ? 2.0 : 4.0);
}

// oneDNN threads follow OMP_NUM_THREADS (this binary does not link OpenMP
// itself), so these rows carry no nthreads argument.
void ShapesOmpDefault(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "N"});
  for (const auto& s : Shapes()) b->Args({s.first, s.second});
}

void BM_OneDNN_F32(benchmark::State& st) { RunOnednn(st, false, false); }
BENCHMARK(BM_OneDNN_F32)->Apply(ShapesOmpDefault)->UseRealTime();

void BM_OneDNN_F32_Prepacked(benchmark::State& st) { RunOnednn(st, false, true); }
BENCHMARK(BM_OneDNN_F32_Prepacked)->Apply(ShapesOmpDefault)->UseRealTime();

void BM_OneDNN_BF16(benchmark::State& st) { RunOnednn(st, true, false); }
BENCHMARK(BM_OneDNN_BF16)->Apply(ShapesOmpDefault)->UseRealTime();
#endif  // USMOE_WITH_ONEDNN

}  // namespace
}  // namespace usmoe_microbench
