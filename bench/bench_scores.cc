// Score kernel of usmoe (usmoe_scores) for the three score flavours, against
// a scalar std::exp loop. Counters: cells/s = T*N / time, bytes/s = logits
// read + scores written (8 bytes per cell).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench_util.h"
#include "src/scores/scores.h"

namespace usmoe_microbench {
namespace {

void RunScores(benchmark::State& st, double alpha, usmoe_expert_score fe) {
  const int64_t T = st.range(0), N = st.range(1);
  ThreadScope threads(st.range(2));
  const std::vector<float>& L = Logits(T, N);
  std::vector<float> U(size_t(T * N));
  Check(st, usmoe_scores(L.data(), T, N, alpha, fe, nullptr, 0, nullptr, U.data()));
  for (auto _ : st) {
    usmoe_scores(L.data(), T, N, alpha, fe, nullptr, 0, nullptr, U.data());
    benchmark::DoNotOptimize(U.data());
    benchmark::ClobberMemory();
  }
  SetRates(st, double(T * N), 8.0 * T * N);
}

// alpha 0: softmax over experts only (token-choice / expert-choice score).
void BM_Scores_Softmax(benchmark::State& st) {
  RunScores(st, 0.0, USMOE_EXPERT_SCORE_SIGMOID);
}
BENCHMARK(BM_Scores_Softmax)->Apply(ShapesAndThreads)->UseRealTime();

// alpha 0.5, f_e = sigmoid·2/N: the unified score (default of UNIFIED).
void BM_Scores_UnifiedSigmoid(benchmark::State& st) {
  RunScores(st, 0.5, USMOE_EXPERT_SCORE_SIGMOID);
}
BENCHMARK(BM_Scores_UnifiedSigmoid)->Apply(ShapesAndThreads)->UseRealTime();

// alpha 0.5, f_e = softmax over the group's tokens (column softmax).
void BM_Scores_UnifiedSoftmaxTokens(benchmark::State& st) {
  RunScores(st, 0.5, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS);
}
BENCHMARK(BM_Scores_UnifiedSoftmaxTokens)->Apply(ShapesAndThreads)->UseRealTime();

// The unified score kernel alone (alpha 0.5, sigmoid), as routing runs it
// on logits it computed itself: no input scan, no argument checks. The
// difference to BM_Scores_UnifiedSigmoid is usmoe_scores' NaN/Inf scan.
void BM_ScoresKernel_UnifiedSigmoid(benchmark::State& st) {
  const int64_t T = st.range(0), N = st.range(1);
  ThreadScope threads(st.range(2));
  const std::vector<float>& L = Logits(T, N);
  std::vector<float> U(size_t(T * N));
  const int64_t groups[2] = {0, T};
  for (auto _ : st) {
    usmoe::ComputeScores(L.data(), T, N, 0.5f, false, groups, 1, nullptr, U.data());
    benchmark::DoNotOptimize(U.data());
    benchmark::ClobberMemory();
  }
  SetRates(st, double(T * N), 8.0 * T * N);
}
BENCHMARK(BM_ScoresKernel_UnifiedSigmoid)->Apply(ShapesAndThreads)->UseRealTime();

// The floor the issue measures scores against: L read and U written once,
// nothing computed (a copy, split over the same threads as usmoe_scores).
// Same bytes/s counter; the ratio BM_Scores_* / BM_Stream_LtoU is the
// "within 2x of streaming L in and U out" figure.
void BM_Stream_LtoU(benchmark::State& st) {
  const int64_t T = st.range(0), N = st.range(1);
  const int threads = static_cast<int>(st.range(2));
  const std::vector<float>& L = Logits(T, N);
  std::vector<float> U(size_t(T * N));
  const int64_t per = (T + threads - 1) / threads;
  for (auto _ : st) {
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int p = 0; p < threads; ++p) {
      const int64_t t0 = std::min(T, p * per), t1 = std::min(T, t0 + per);
      std::memcpy(U.data() + t0 * N, L.data() + t0 * N, sizeof(float) * size_t((t1 - t0) * N));
    }
    benchmark::DoNotOptimize(U.data());
    benchmark::ClobberMemory();
  }
  SetRates(st, double(T * N), 8.0 * T * N);
}
BENCHMARK(BM_Stream_LtoU)->Apply(ShapesAndThreads)->UseRealTime();

// Baseline: scalar loop with std::exp, alpha 0.5 sigmoid, one thread.
void BM_Scalar_UnifiedSigmoid(benchmark::State& st) {
  const int64_t T = st.range(0), N = st.range(1);
  const std::vector<float>& L = Logits(T, N);
  std::vector<float> U(size_t(T * N));
  for (auto _ : st) {
    ScalarScores(L.data(), T, N, 0.5f, U.data());
    benchmark::DoNotOptimize(U.data());
    benchmark::ClobberMemory();
  }
  SetRates(st, double(T * N), 8.0 * T * N);
}
BENCHMARK(BM_Scalar_UnifiedSigmoid)->Apply(ShapesOnly)->UseRealTime();

}  // namespace
}  // namespace usmoe_microbench
