// Shared helpers of the usmoe microbenchmarks (bench_*.cc): shapes, seeded
// inputs (cached per shape, so Google Benchmark's repeated calls of a
// benchmark function do not regenerate them), thread arguments, and the
// plain std:: baselines. Only the public C API of usmoe is used.
#ifndef USMOE_BENCH_BENCH_UTIL_H_
#define USMOE_BENCH_BENCH_UTIL_H_

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "usmoe/usmoe.h"

namespace usmoe_microbench {

// The (T, N) shapes every microbenchmark runs.
inline const std::vector<std::pair<int64_t, int64_t>>& Shapes() {
  static const std::vector<std::pair<int64_t, int64_t>> s = {
      {512, 64}, {4096, 64}, {32768, 64}, {4096, 8}, {4096, 256}};
  return s;
}

// Experts per token used with N experts: 2 for N <= 8 (Mixtral-like), else 8.
inline int64_t KFor(int64_t N) { return N <= 8 ? 2 : 8; }

inline int MaxThreads() {
  int32_t n = 1;
  usmoe_set_num_threads(0);
  usmoe_get_num_threads(&n);
  return n < 1 ? 1 : n;
}

// Args {T, N, nthreads} for nthreads in {1, max}: our kernels.
inline void ShapesAndThreads(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "N", "nthreads"});
  const int maxt = MaxThreads();
  for (const auto& s : Shapes()) {
    b->Args({s.first, s.second, 1});
    if (maxt > 1) b->Args({s.first, s.second, maxt});
  }
}

// Args {T, N, nthreads = 1}: single-threaded baselines (the constant third
// argument makes their names line up with the 1-thread runs of our kernels,
// so compare.py's "filters" mode can pair them).
inline void ShapesOnly(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "N", "nthreads"});
  for (const auto& s : Shapes()) b->Args({s.first, s.second, 1});
}

// Sets usmoe's thread count for one benchmark; restores the default after.
class ThreadScope {
 public:
  explicit ThreadScope(int64_t n) { usmoe_set_num_threads(static_cast<int32_t>(n)); }
  ~ThreadScope() { usmoe_set_num_threads(0); }
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return double((Next() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]
  double Normal() {
    return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(6.283185307179586 * Uniform());
  }

 private:
  uint64_t s_;
};

// Logits T×N ~ N(0, s_e²) with a per-expert scale s_e = max(0.1, 1 + 0.5 z_e)
// (the skewed popularity of usmoe-bench's default inputs).
inline const std::vector<float>& Logits(int64_t T, int64_t N) {
  static std::map<std::pair<int64_t, int64_t>, std::vector<float>> cache;
  auto& v = cache[{T, N}];
  if (v.empty()) {
    Rng r(uint64_t(T) * 1000003u + uint64_t(N));
    std::vector<double> scale(static_cast<size_t>(N));
    for (auto& s : scale) s = std::max(0.1, 1.0 + 0.5 * r.Normal());
    v.resize(size_t(T * N));
    for (int64_t i = 0; i < T * N; ++i) v[size_t(i)] = float(scale[size_t(i % N)] * r.Normal());
  }
  return v;
}

inline float SigmoidRef(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

// Scalar U = (1-alpha)·softmax_row(L) + alpha·sigmoid(L)·2/N (single thread).
inline void ScalarScores(const float* L, int64_t T, int64_t N, float alpha, float* U) {
  const float fe = 2.0f / float(N);
  for (int64_t t = 0; t < T; ++t) {
    const float* l = L + t * N;
    float* u = U + t * N;
    float mx = l[0];
    for (int64_t e = 1; e < N; ++e) mx = std::max(mx, l[e]);
    float sum = 0;
    for (int64_t e = 0; e < N; ++e) sum += (u[e] = std::exp(l[e] - mx));
    const float inv = 1.0f / sum;
    for (int64_t e = 0; e < N; ++e)
      u[e] = (1.0f - alpha) * u[e] * inv + alpha * SigmoidRef(l[e]) * fe;
  }
}

// Unified scores (alpha 0.5, sigmoid) of Logits(T, N): the selection input.
inline const std::vector<float>& Scores(int64_t T, int64_t N) {
  static std::map<std::pair<int64_t, int64_t>, std::vector<float>> cache;
  auto& v = cache[{T, N}];
  if (v.empty()) {
    v.resize(size_t(T * N));
    ScalarScores(Logits(T, N).data(), T, N, 0.5f, v.data());
  }
  return v;
}

// Uniform [-a, a) floats for GEMM operands (the value distribution does not
// matter for a GEMM's speed; this is much faster to generate for 268 MB).
inline const std::vector<float>& Uniform(int64_t rows, int64_t cols, uint64_t seed) {
  static std::map<std::pair<int64_t, int64_t>, std::vector<float>> cache[2];
  auto& v = cache[seed & 1][{rows, cols}];
  if (v.empty()) {
    Rng r(seed * 7919u + uint64_t(rows) * 31u + uint64_t(cols));
    const double a = std::sqrt(3.0 / double(cols));
    v.resize(size_t(rows * cols));
    for (auto& x : v) x = float((2.0 * r.Uniform() - 1.0) * a);
  }
  return v;
}

// f32 -> bf16, round to nearest even.
inline uint16_t ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = ToBf16(v[i]);
  return o;
}

// Counters shared by all microbenchmarks (rates over real or CPU time as the
// benchmark uses; the 'G' prefix reads G cells/s and GB/s).
inline void SetRates(benchmark::State& st, double cells, double bytes, double flops = 0) {
  using benchmark::Counter;
  st.counters["cells/s"] = Counter(cells, Counter::kIsIterationInvariantRate);
  st.counters["bytes/s"] = Counter(bytes, Counter::kIsIterationInvariantRate);
  if (flops > 0) st.counters["flop/s"] = Counter(flops, Counter::kIsIterationInvariantRate);
}

inline void Check(benchmark::State& st, usmoe_status s) {
  if (s != USMOE_STATUS_SUCCESS)
    st.SkipWithError((std::string(usmoe_status_string(s)) + ": " + usmoe_last_error()).c_str());
}

// (score, index) with "higher score, then lower index" first.
struct Cell {
  float score;
  uint32_t idx;
};
inline bool Better(const Cell& a, const Cell& b) {
  return a.score > b.score || (a.score == b.score && a.idx < b.idx);
}

}  // namespace usmoe_microbench

#endif  // USMOE_BENCH_BENCH_UTIL_H_
