// Checks of a bf16 × bf16 -> f32 GEMM (usmoe_logits with BF16, GemmBf16):
// bf16 input generators for the value classes that matter to vdpbf16ps and
// the error bound stated in src/gemm/gemm_bf16.h, computed in double from the
// exact bf16 values.
#ifndef USMOE_TESTS_SUPPORT_BF16_GEMM_CHECK_H_
#define USMOE_TESTS_SUPPORT_BF16_GEMM_CHECK_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "support/targets.h"

namespace usmoe_test {

enum class Bf16Values {
  kNormal,      // scale·N(0, 1)
  kWideRange,   // N(0, 1)·2^e, e uniform in [-40, 40]: huge and tiny products
  kDenormals,   // N(0, 1) with ~1/4 of the entries bf16 denormals (±1..127 ·2^-133)
  kTinySums,    // N(0, 1)·2^-66: products and partial sums are f32 denormals
};

inline const char* Bf16ValuesName(Bf16Values v) {
  switch (v) {
    case Bf16Values::kNormal: return "normal";
    case Bf16Values::kWideRange: return "wide-range";
    case Bf16Values::kDenormals: return "denormals";
    default: return "tiny-sums";
  }
}

inline std::vector<uint16_t> RandomBf16(Rng& rng, int64_t n, Bf16Values kind, double scale) {
  std::vector<uint16_t> v(static_cast<size_t>(n));
  for (auto& b : v) {
    double x = scale * rng.Normal();
    if (kind == Bf16Values::kWideRange) x = std::ldexp(x, static_cast<int>(rng.Int(-40, 40)));
    if (kind == Bf16Values::kTinySums) x = std::ldexp(x, -66);
    b = F32ToBf16(static_cast<float>(x));
    if (kind == Bf16Values::kDenormals && rng.Int(0, 3) == 0)
      b = static_cast<uint16_t>(rng.Int(1, 127) | (rng.Int(0, 1) << 15));
  }
  return v;
}

inline bool IsBf16Denormal(uint16_t b) { return (b & 0x7F80u) == 0 && (b & 0x7Fu) != 0; }

// exact[i][j] = Σ_k x[i][k]·w[j][k] in double (bf16 products are exact in
// double; the double sum's own error is ~2^-29 of the f32 bound). bound: the
// tolerance documented in src/gemm/gemm_bf16.h,
//   2·k·2^-24·Σ|x·w| + Σ_{x or w denormal}|x·w| + k·2^-126.
struct Bf16GemmReference {
  std::vector<double> exact, bound;
};

inline Bf16GemmReference ReferenceBf16Gemm(const uint16_t* x, int64_t ldx, const uint16_t* w,
                                           int64_t m, int64_t n, int64_t k) {
  Bf16GemmReference ref;
  ref.exact.resize(static_cast<size_t>(m * n));
  ref.bound.resize(static_cast<size_t>(m * n));
  const double gamma = 2.0 * static_cast<double>(k) * std::ldexp(1.0, -24);
  const double flush = static_cast<double>(k) * std::ldexp(1.0, -126);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, abs_sum = 0, flushed = 0;
      for (int64_t t = 0; t < k; ++t) {
        const uint16_t a = x[i * ldx + t], b = w[j * k + t];
        const double p = oracle::Bf16ToDouble(a) * oracle::Bf16ToDouble(b);
        sum += p;
        abs_sum += std::fabs(p);
        if (IsBf16Denormal(a) || IsBf16Denormal(b)) flushed += std::fabs(p);
      }
      ref.exact[static_cast<size_t>(i * n + j)] = sum;
      ref.bound[static_cast<size_t>(i * n + j)] = gamma * abs_sum + flushed + flush;
    }
  return ref;
}

// Adds a failure (at most 5 listed) for each cell of y (row stride ldy)
// outside the bound; returns the number of such cells.
inline int ExpectWithinBf16Bound(const float* y, int64_t ldy, const Bf16GemmReference& ref,
                                 int64_t m, int64_t n, const std::string& what) {
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const size_t c = static_cast<size_t>(i * n + j);
      const double got = y[i * ldy + j];
      if (!(std::fabs(got - ref.exact[c]) <= ref.bound[c]) && bad++ < 5)
        ADD_FAILURE() << what << ": y[" << i << "][" << j << "] = " << got << ", exact "
                      << ref.exact[c] << ", error " << std::fabs(got - ref.exact[c])
                      << " > bound " << ref.bound[c];
    }
  return bad;
}

// vdpbf16ps is used iff the dispatch is AVX3/AVX3_DL and CPUID has
// avx512_bf16 (src/gemm/gemm_bf16.cc); elsewhere the portable path runs.
inline bool CpuHasAvx512Bf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") != 0;
#else
  return false;
#endif
}

inline bool ExpectDpbf16Path(const std::string& target) {
  return (target == "AVX3" || target == "AVX3_DL") && CpuHasAvx512Bf16();
}

}  // namespace usmoe_test

#endif  // USMOE_TESTS_SUPPORT_BF16_GEMM_CHECK_H_
