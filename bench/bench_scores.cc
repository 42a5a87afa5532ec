// Score kernel of usmoe (usmoe_scores) for the three score flavours, against
// a scalar std::exp loop. Counters: cells/s = T*N / time, bytes/s = logits
// read + scores written (8 bytes per cell).
#include <benchmark/benchmark.h>

#include <vector>

#include "bench_util.h"

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
