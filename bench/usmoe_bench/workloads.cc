// usmoe-bench: input generation. splitmix64 + Box-Muller, written here so the
// same seed gives the same inputs with every standard library.
#include "workloads.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace usmoe_bench {
namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed ^ 0x9E3779B97F4A7C15ull) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1].
  double Uniform() { return (double((Next() >> 11) + 1)) * 0x1.0p-53; }
  // Standard normal pairs (Box-Muller).
  void Normal2(double* a, double* b) {
    double r = std::sqrt(-2.0 * std::log(Uniform()));
    double th = 6.283185307179586 * Uniform();
    *a = r * std::cos(th);
    *b = r * std::sin(th);
  }
  void FillNormal(float* out, int64_t n, double scale) {
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
      double a, b;
      Normal2(&a, &b);
      out[i] = static_cast<float>(a * scale);
      out[i + 1] = static_cast<float>(b * scale);
    }
    if (i < n) {
      double a, b;
      Normal2(&a, &b);
      out[i] = static_cast<float>(a * scale);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace

uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float Bf16ToF32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

Workload MakeWorkload(const Options& o) {
  Workload wl;
  wl.T = o.tokens;
  wl.N = o.experts;
  wl.d = o.dim;
  wl.dtype = o.dtype;
  // Independent streams for X, W and the expert scales: changing T keeps W.
  Rng rx(o.seed * 3 + 0), rw(o.seed * 3 + 1), rs(o.seed * 3 + 2);
  wl.x.resize(size_t(wl.T) * wl.d);
  rx.FillNormal(wl.x.data(), int64_t(wl.x.size()), 1.0 / std::sqrt(double(wl.d)));
  wl.w.resize(size_t(wl.N) * wl.d);
  rw.FillNormal(wl.w.data(), int64_t(wl.w.size()), 1.0);
  wl.expert_scale.assign(size_t(wl.N), 1.0f);
  if (!o.iid) {
    std::vector<float> z(size_t(wl.N));
    rs.FillNormal(z.data(), wl.N, 1.0);
    for (int64_t e = 0; e < wl.N; ++e) {
      float s = std::max(0.1f, 1.0f + 0.5f * z[size_t(e)]);
      wl.expert_scale[size_t(e)] = s;
      float* row = wl.w.data() + size_t(e) * wl.d;
      for (int64_t j = 0; j < wl.d; ++j) row[j] *= s;
    }
  }
  if (wl.dtype == USMOE_DTYPE_BF16) {
    wl.x_bf16.resize(wl.x.size());
    wl.w_bf16.resize(wl.w.size());
    for (size_t i = 0; i < wl.x.size(); ++i) {
      wl.x_bf16[i] = F32ToBf16(wl.x[i]);
      wl.x[i] = Bf16ToF32(wl.x_bf16[i]);
    }
    for (size_t i = 0; i < wl.w.size(); ++i) {
      wl.w_bf16[i] = F32ToBf16(wl.w[i]);
      wl.w[i] = Bf16ToF32(wl.w_bf16[i]);
    }
  }
  const int64_t G = o.groups;
  int64_t start = 0;
  for (int64_t g = 0; g < G; ++g) {
    int64_t size = wl.T / G + (g < wl.T % G ? 1 : 0);
    wl.group_sizes.push_back(size);
    wl.group_starts.push_back(start);
    start += size;
  }
  return wl;
}

double PolicyAlpha(const Options& o, usmoe_policy policy) {
  if (o.alpha_set) return o.alpha;
  return policy == USMOE_POLICY_UNIFIED ? 0.5 : 0.0;
}

int64_t EcCapacity(double k, int64_t group_tokens, int64_t N) {
  // C = min(T_g, ceil(capacity_factor * k * T_g / N)), capacity_factor = 1.
  double c = std::ceil(k * double(group_tokens) / double(N));
  return std::min<int64_t>(group_tokens, static_cast<int64_t>(c));
}

int64_t UnifiedBudget(double k, int64_t group_tokens, int64_t N) {
  // c = min(T_g * N, floor(k * T_g + 0.5)).
  double c = std::floor(k * double(group_tokens) + 0.5);
  return std::min<int64_t>(group_tokens * N, static_cast<int64_t>(c));
}

}  // namespace usmoe_bench
