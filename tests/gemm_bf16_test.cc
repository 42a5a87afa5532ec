// The bf16 gate GEMM (GemmBf16 behind usmoe_logits with USMOE_DTYPE_BF16)
// against the double oracle, on every SIMD target and at 1 and 2 threads.
//
// Tolerance: the bound of src/gemm/gemm_bf16.h, |y - exact| ≤
// 2·d·2^-24·Σ|x·w| + Σ_{denormal x or w}|x·w| + d·2^-126 (the f32
// dot-product bound, plus what vdpbf16ps's flush of denormal inputs and
// results may lose). On top of it:
//   - results are bitwise identical at 1 and 2 threads;
//   - where the portable path runs (targets below AVX3, or a CPU without
//     avx512_bf16) the result is bitwise that of the f32 gate GEMM on the
//     widened inputs, i.e. bf16 routing there is unchanged by this kernel.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/bf16_gemm_check.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

struct Shape {
  int64_t T, N, d;
};

std::vector<float> Logits(const void* x, const void* w, usmoe_dtype dt, Shape s) {
  std::vector<float> y(static_cast<size_t>(s.T * s.N), -7.0f);
  EXPECT_EQ(usmoe_logits(x, w, dt, s.T, s.N, s.d, y.data()), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  return y;
}

std::vector<float> Widen(const std::vector<uint16_t>& b) {
  std::vector<float> f(b.size());
  for (size_t i = 0; i < b.size(); ++i) f[i] = Bf16ToF32(b[i]);
  return f;
}

// Shapes: K odd and K = 1, N = 1, N = 8, N not a multiple of 16, several
// 4-panel groups plus a tail (N = 72: a last group of 8 columns), M = 1, M not
// a multiple of the 6/8-row tiles,
// products above the threading threshold (2^20) with several row blocks, and
// K above the 256-element k-block.
const Shape kShapes[] = {{1, 1, 1},    {1, 8, 1},     {7, 8, 33},    {13, 1, 64},
                         {6, 16, 2},   {5, 17, 3},    {50, 40, 129}, {97, 8, 300},
                         {23, 93, 515}, {200, 64, 130}, {130, 8, 1031}, {64, 300, 65},
                         {31, 72, 97}};

TEST(GemmBf16, LogitsWithinBoundOnEveryTargetAndThreadCount) {
  const Bf16Values kinds[] = {Bf16Values::kNormal, Bf16Values::kWideRange,
                              Bf16Values::kDenormals, Bf16Values::kTinySums};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const Shape& s : kShapes) {
      for (Bf16Values kind : kinds) {
        SCOPED_TRACE(std::string("values ") + Bf16ValuesName(kind) + ", T=" +
                     std::to_string(s.T) + " N=" + std::to_string(s.N) +
                     " d=" + std::to_string(s.d));
        const auto xb = RandomBf16(rng, s.T * s.d, kind, 1.0);
        const auto wb = RandomBf16(rng, s.N * s.d, kind, 0.5);
        const auto ref = ReferenceBf16Gemm(xb.data(), s.d, wb.data(), s.T, s.N, s.d);
        const auto xf = Widen(xb), wf = Widen(wb);
        std::vector<float> dp_result;
        ForEachTarget([&](const std::string& target) {
          std::vector<float> by_threads[2];
          ForEachThreadCount({1, 2}, [&](int32_t n) {
            by_threads[n - 1] = Logits(xb.data(), wb.data(), USMOE_DTYPE_BF16, s);
          });
          EXPECT_TRUE(SameBits(by_threads[0], by_threads[1])) << "1 vs 2 threads differ";
          ExpectWithinBf16Bound(by_threads[0].data(), s.N, ref, s.T, s.N, target);
          if (ExpectDpbf16Path(target)) {
            // AVX3 and AVX3_DL run the same vdpbf16ps code.
            if (dp_result.empty()) dp_result = by_threads[0];
            EXPECT_TRUE(SameBits(dp_result, by_threads[0])) << "AVX3 vs AVX3_DL differ";
          } else {
            const auto f32 = Logits(xf.data(), wf.data(), USMOE_DTYPE_F32, s);
            EXPECT_TRUE(SameBits(f32, by_threads[0]))
                << "portable bf16 path differs from the f32 kernel on widened inputs";
          }
        });
      }
    }
  });
}

// Small integers: every product and every partial sum is exact in f32 and in
// vdpbf16ps, so all targets must give the exact answer.
TEST(GemmBf16, ExactSmallIntegersOddK) {
  const int64_t T = 7, N = 9, d = 5;
  std::vector<uint16_t> xb(T * d), wb(N * d);
  std::vector<float> want(T * N, 0.0f);
  for (int64_t i = 0; i < T * d; ++i) xb[i] = F32ToBf16(static_cast<float>(i % 7 - 3));
  for (int64_t i = 0; i < N * d; ++i) wb[i] = F32ToBf16(static_cast<float>(i % 5 - 2));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e)
      for (int64_t k = 0; k < d; ++k)
        want[t * N + e] += Bf16ToF32(xb[t * d + k]) * Bf16ToF32(wb[e * d + k]);
  ForEachTarget([&](const std::string&) {
    const auto got = Logits(xb.data(), wb.data(), USMOE_DTYPE_BF16, {T, N, d});
    for (int64_t i = 0; i < T * N; ++i) EXPECT_EQ(got[i], want[i]) << i;
  });
}

}  // namespace
}  // namespace usmoe_test
