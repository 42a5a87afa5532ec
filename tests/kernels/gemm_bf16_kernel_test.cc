// src/gemm/ kernels called directly (what the executor calls): the bf16 pair
// packing, GemmBf16 with row strides, and F32ToBf16Rne, on every SIMD target.
// The GEMM tolerance is that of tests/gemm_bf16_test.cc (src/gemm/gemm_bf16.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "src/gemm/bf16_round.h"
#include "src/gemm/gemm_bf16.h"
#include "support/bf16_gemm_check.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

TEST(Bf16Kernels, PackLayoutMatchesFormula) {
  const int64_t n = 19, k = 5, kp_count = 3;  // 2 panels, odd k
  std::vector<uint16_t> w(n * k);
  for (int64_t i = 0; i < n * k; ++i) w[i] = static_cast<uint16_t>(1000 + i);
  ASSERT_EQ(usmoe::PackedBf16PairsSize(n, k), 2 * kp_count * 16 * 2);
  std::vector<uint16_t> packed(usmoe::PackedBf16PairsSize(n, k), 0xDEAD);
  usmoe::PackBf16Pairs(w.data(), n, k, packed.data());
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t kp = 0; kp < kp_count; ++kp)
      for (int64_t j = 0; j < 16; ++j)
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t row = p * 16 + j, col = 2 * kp + h;
          const uint16_t want = row < n && col < k ? w[row * k + col] : 0;
          EXPECT_EQ(packed[((p * kp_count + kp) * 16 + j) * 2 + h], want)
              << "row " << row << " k " << col;
        }
}

// Strided X and Y (the executor's gathered rows): only the m×n cells are
// written, the gaps keep their sentinel.
TEST(Bf16Kernels, StridedGemmWithinBoundOnEveryTarget) {
  struct Case {
    int64_t m, n, k;
  };
  const Case cases[] = {{29, 37, 77}, {1, 8, 1}, {17, 8, 2}, {48, 64, 300}, {100, 96, 257},
                        {20, 70, 300}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const Case& c : cases) {
      SCOPED_TRACE("m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
                   " k=" + std::to_string(c.k));
      const int64_t ldx = c.k + 5, ldy = c.n + 3;
      const auto x = RandomBf16(rng, c.m * ldx, Bf16Values::kWideRange, 1.0);
      const auto w = RandomBf16(rng, c.n * c.k, Bf16Values::kDenormals, 0.5);
      std::vector<uint16_t> packed(usmoe::PackedBf16PairsSize(c.n, c.k));
      usmoe::PackBf16Pairs(w.data(), c.n, c.k, packed.data());
      const auto ref = ReferenceBf16Gemm(x.data(), ldx, w.data(), c.m, c.n, c.k);
      ForEachTarget([&](const std::string& target) {
        EXPECT_EQ(usmoe::CurrentGemmBf16Path() == usmoe::GemmBf16Path::kAvx512Bf16,
                  ExpectDpbf16Path(target));
        std::vector<float> y[2];
        ForEachThreadCount({1, 2}, [&](int32_t t) {
          y[t - 1].assign(static_cast<size_t>(c.m * ldy), -5.0f);
          usmoe::GemmBf16(x.data(), ldx, packed.data(), c.m, c.n, c.k, y[t - 1].data(), ldy);
        });
        EXPECT_EQ(std::memcmp(y[0].data(), y[1].data(), y[0].size() * 4), 0)
            << "1 vs 2 threads differ";
        ExpectWithinBf16Bound(y[0].data(), ldy, ref, c.m, c.n, target);
        for (int64_t i = 0; i < c.m; ++i)
          for (int64_t j = c.n; j < ldy; ++j)
            ASSERT_EQ(y[0][i * ldy + j], -5.0f) << "gap written at row " << i;
      });
    }
  });
}

// The executor's shape (64 tokens of one expert, f = 1024, d = 2048), at the
// default target: above the threading threshold, 16 panel groups.
TEST(Bf16Kernels, ExpertShapeWithinBoundAndThreadIndependent) {
  const int64_t m = 64, n = 1024, k = 2048;
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(rng.seed()));
  const auto x = RandomBf16(rng, m * k, Bf16Values::kNormal, 1.0);
  const auto w = RandomBf16(rng, n * k, Bf16Values::kNormal, 0.05);
  std::vector<uint16_t> packed(usmoe::PackedBf16PairsSize(n, k));
  usmoe::PackBf16Pairs(w.data(), n, k, packed.data());
  const auto ref = ReferenceBf16Gemm(x.data(), k, w.data(), m, n, k);
  std::vector<float> y[2];
  ForEachThreadCount({1, 2}, [&](int32_t t) {
    y[t - 1].assign(static_cast<size_t>(m * n), 0.0f);
    usmoe::GemmBf16(x.data(), packed.data(), m, n, k, y[t - 1].data());
  });
  EXPECT_EQ(std::memcmp(y[0].data(), y[1].data(), y[0].size() * 4), 0);
  ExpectWithinBf16Bound(y[0].data(), n, ref, m, n, "default target");
}

// Independent RNE: the nearer of the two bf16 neighbours of |f| by exact
// double arithmetic, the even one on a tie; past the largest bf16 the upper
// neighbour is 2^128 (IEEE rounds as if the exponent were unbounded, then
// overflows to Inf).
uint16_t RneOracle(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40u);
  const uint16_t lo = static_cast<uint16_t>(u >> 16);  // |f| truncated
  if ((u & 0xFFFFu) == 0 || std::isinf(f)) return lo;
  const uint16_t hi = static_cast<uint16_t>(lo + 1);
  auto mag = [](uint16_t b) {
    const uint16_t m = b & 0x7FFFu;
    return m == 0x7F80u ? std::ldexp(1.0, 128) : std::fabs(oracle::Bf16ToDouble(m));
  };
  const double a = std::fabs(static_cast<double>(f));
  const double dlo = a - mag(lo), dhi = mag(hi) - a;
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1u) ? hi : lo;
}

TEST(Bf16Kernels, RoundToNearestEvenMatchesOracleOnEveryTarget) {
  // Every bf16 pattern as the upper half, with the lower halves that decide
  // RNE (exact, just below/at/above the tie, max) and two random ones; the
  // odd length exercises the scalar tail.
  Rng rng(TestSeeds()[0]);
  std::vector<uint32_t> bits;
  for (uint32_t hi = 0; hi <= 0xFFFFu; ++hi)
    for (uint32_t lo : {0x0000u, 0x0001u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu,
                        static_cast<uint32_t>(rng.NextU64() & 0xFFFFu),
                        static_cast<uint32_t>(rng.NextU64() & 0xFFFFu)})
      bits.push_back(hi << 16 | lo);
  bits.push_back(0x3F808001u);
  std::vector<float> in(bits.size());
  std::memcpy(in.data(), bits.data(), bits.size() * 4);
  std::vector<uint16_t> want(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) want[i] = RneOracle(bits[i]);
  ForEachTarget([&](const std::string&) {
    std::vector<uint16_t> got(bits.size(), 0xABCD);
    usmoe::F32ToBf16Rne(in.data(), static_cast<int64_t>(in.size()), got.data());
    int bad = 0;
    for (size_t i = 0; i < bits.size(); ++i)
      if (got[i] != want[i] && bad++ < 5)
        ADD_FAILURE() << std::hex << "f32 0x" << bits[i] << ": got 0x" << got[i]
                      << " want 0x" << want[i];
  });
}

TEST(Bf16Kernels, RoundSpecialValues) {
  const uint32_t in_bits[] = {
      0x3F808001u,  // just above a tie: rounds up (Highway's DemoteTo truncates to 0x3F80)
      0x3F808000u,  // tie, even below: stays 0x3F80
      0x3F818000u,  // tie, odd below: up to even 0x3F82
      0x7F7FFFFFu,  // largest f32: overflows to +Inf
      0xFF7FFFFFu,  // and to -Inf
      0x7F800000u,  // +Inf
      0xFF800000u,  // -Inf
      0x7F800001u,  // signalling NaN, payload only in the low half: stays NaN
      0xFFFFFFFFu,  // negative NaN with all bits set: no wrap-around
      0x00008000u,  // denormal tie: to even (0)
      0x80018000u,  // negative denormal tie, odd below: up
  };
  const uint16_t want[] = {0x3F81u, 0x3F80u, 0x3F82u, 0x7F80u, 0xFF80u, 0x7F80u,
                           0xFF80u, 0x7FC0u, 0xFFFFu, 0x0000u, 0x8002u};
  constexpr size_t n = sizeof(in_bits) / sizeof(in_bits[0]);
  float in[n];
  std::memcpy(in, in_bits, sizeof(in));
  ForEachTarget([&](const std::string&) {
    uint16_t got[n];
    usmoe::F32ToBf16Rne(in, n, got);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(got[i], want[i]) << std::hex << "f32 0x" << in_bits[i];
  });
}

}  // namespace
}  // namespace usmoe_test
