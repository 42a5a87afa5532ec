// Logits and scores stages against the double oracle, on every SIMD target.
//
// Tolerances:
//   logits: |got - ref| <= 2·d·2^-24 · Σ_i |x_i·w_i| + 1e-30, the standard
//     bound of an f32-accumulated dot product (Higham, γ_d), so it is exact
//     arithmetic that decides, not a guess.
//   scores: the acceptance rule |got - ref| <= 1e-6·|ref| + 1e-12, ref from
//     the oracle in double on the same f32 logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

struct Shape {
  int64_t T, N, d;
};

void CheckLogitsF32(const std::vector<float>& x, const std::vector<float>& w, Shape s) {
  std::vector<float> got(static_cast<size_t>(s.T * s.N), -7.0f);
  ASSERT_EQ(usmoe_logits(x.data(), w.data(), USMOE_DTYPE_F32, s.T, s.N, s.d, got.data()),
            USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  const auto ref = oracle::Logits(x.data(), w.data(), s.T, s.N, s.d);
  const auto scale = oracle::LogitsAbsScale(x.data(), w.data(), s.T, s.N, s.d);
  const double gamma = 2.0 * static_cast<double>(s.d) * std::ldexp(1.0, -24);
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= gamma * scale[i] + 1e-30) && bad++ < 5)
      ADD_FAILURE() << "logit " << i << " (T=" << s.T << " N=" << s.N << " d=" << s.d
                    << "): got " << got[i] << " want " << ref[i];
}

TEST(Logits, F32MatchesOracleOnEveryTarget) {
  // N <= 8 takes the grouped-token tiles on AVX-512 (tiles of 16 or 32
  // tokens, chunks of 16 k): T and d on and off those sizes.
  const Shape shapes[] = {{1, 1, 1},   {3, 5, 7},    {37, 13, 96}, {64, 64, 64},
                          {300, 130, 17}, {17, 129, 33}, {64, 8, 512}, {17, 8, 33},
                          {33, 4, 50},  {40, 2, 16},  {16, 7, 300}, {100, 1, 15}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const Shape& s : shapes) {
      const auto x = RandomNormals(rng, s.T * s.d, 1.0);
      const auto w = RandomNormals(rng, s.N * s.d, 0.5);
      ForEachTarget([&](const std::string&) { CheckLogitsF32(x, w, s); });
    }
  });
}

TEST(Logits, Bf16MatchesOracleOnEveryTarget) {
  // Odd d (the last k-pair half empty), N and T off the tile sizes, and d
  // beyond one k-block of the bf16 dot-product kernel (256).
  const Shape shapes[] = {{1, 1, 1},    {5, 8, 31},    {40, 33, 96},
                          {300, 16, 24}, {50, 70, 1001}, {7, 130, 513}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const Shape& s : shapes) {
      const auto xb = ToBf16(RandomNormals(rng, s.T * s.d, 1.0));
      const auto wb = ToBf16(RandomNormals(rng, s.N * s.d, 0.5));
      // bf16 values are exact in f32, so the f32 oracle bound applies to the
      // decoded inputs.
      std::vector<float> xf(xb.size()), wf(wb.size());
      for (size_t i = 0; i < xb.size(); ++i) xf[i] = Bf16ToF32(xb[i]);
      for (size_t i = 0; i < wb.size(); ++i) wf[i] = Bf16ToF32(wb[i]);
      const auto ref = oracle::LogitsBf16(xb.data(), wb.data(), s.T, s.N, s.d);
      const auto scale = oracle::LogitsAbsScale(xf.data(), wf.data(), s.T, s.N, s.d);
      const double gamma = 2.0 * static_cast<double>(s.d) * std::ldexp(1.0, -24);
      ForEachTarget([&](const std::string&) {
        std::vector<float> got(static_cast<size_t>(s.T * s.N), -7.0f);
        ASSERT_EQ(usmoe_logits(xb.data(), wb.data(), USMOE_DTYPE_BF16, s.T, s.N, s.d,
                               got.data()),
                  USMOE_STATUS_SUCCESS)
            << usmoe_last_error();
        int bad = 0;
        for (size_t i = 0; i < ref.size(); ++i)
          if (!(std::fabs(got[i] - ref[i]) <= gamma * scale[i] + 1e-30) && bad++ < 5)
            ADD_FAILURE() << "bf16 logit " << i << ": got " << got[i] << " want " << ref[i];
      });
    }
  });
}

TEST(Logits, BitwiseIdenticalOnFmaTargets) {
  // Every logit is one FMA chain over k = 0, 1, ... whatever the tile, so
  // the FMA targets (AVX2, AVX3, AVX3_DL) agree bit for bit; the small-N
  // tiles of AVX-512 (N <= 8) and the panel tiles are both covered.
  // (AVX2 takes 6-row tiles with 1 panel, AVX-512 6 rows with up to 4.)
  // The panel tiles take the last rows of a 48-row block in one tile of 1
  // to 5 rows: T = 3, 7, 29, 46, 50 leave 3, 1, 5, 4, 2.
  const Shape shapes[] = {{1, 1, 3},    {16, 8, 16},  {17, 8, 33}, {35, 5, 100},
                          {64, 4, 64},  {33, 3, 17},  {9, 2, 40},  {50, 9, 31},
                          {20, 16, 24}, {7, 40, 129}, {3, 40, 50}, {29, 64, 300},
                          {46, 17, 20}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const Shape& s : shapes) {
      const auto x = RandomNormals(rng, s.T * s.d, 1.0);
      const auto w = RandomNormals(rng, s.N * s.d, 0.5);
      std::vector<float> first;
      std::string first_name;
      ForEachTarget([&](const std::string& name) {
        if (name != "AVX2" && name != "AVX3" && name != "AVX3_DL") return;
        std::vector<float> got(static_cast<size_t>(s.T * s.N));
        ASSERT_EQ(usmoe_logits(x.data(), w.data(), USMOE_DTYPE_F32, s.T, s.N, s.d, got.data()),
                  USMOE_STATUS_SUCCESS);
        if (first.empty()) {
          first = got;
          first_name = name;
          return;
        }
        int64_t differing = 0;
        for (size_t i = 0; i < got.size(); ++i)
          differing += std::memcmp(&got[i], &first[i], sizeof(float)) != 0;
        EXPECT_EQ(differing, 0) << first_name << " vs " << name << " (T=" << s.T << " N=" << s.N
                                << " d=" << s.d << "): " << differing << " logits differ";
      });
    }
  });
}

TEST(Logits, ExactSmallIntegers) {
  // Small integers: every product and partial sum is exact in f32.
  const float x[] = {1, 2, 3, -1, 0, 4};  // T=2, d=3
  const float w[] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 2, -1, 1};  // N=4
  const float want[] = {1, 2, 3, 3, -1, 0, 4, 2};
  ForEachTarget([&](const std::string&) {
    float got[8];
    ASSERT_EQ(usmoe_logits(x, w, USMOE_DTYPE_F32, 2, 4, 3, got), USMOE_STATUS_SUCCESS);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], want[i]) << i;
  });
}

struct ScoreCase {
  int64_t T, N;
  std::vector<int64_t> groups;  // empty: one group
  bool masked;
};

void CheckScores(const std::vector<float>& L, const ScoreCase& sc, double alpha,
                 usmoe_expert_score es, const std::vector<uint8_t>& valid) {
  std::vector<double> Ld(L.begin(), L.end());
  const auto ref = oracle::UnifiedScores(Ld, sc.T, sc.N, alpha, ToOracleScore(es), sc.groups,
                                         valid);
  std::vector<float> got(L.size(), -3.0f);
  ASSERT_EQ(usmoe_scores(L.data(), sc.T, sc.N, alpha, es,
                         sc.groups.empty() ? nullptr : sc.groups.data(),
                         static_cast<int64_t>(sc.groups.size()),
                         valid.empty() ? nullptr : valid.data(), got.data()),
            USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!ScoreClose(got[i], ref[i]) && bad++ < 5)
      ADD_FAILURE() << "score (t=" << i / sc.N << ", e=" << i % sc.N << ") alpha=" << alpha
                    << " expert_score=" << es << ": got " << got[i] << " want " << ref[i]
                    << " (logit " << L[i] << ")";
}

const double kAlphas[] = {0.0, 0.25, 0.5, 1.0};
const usmoe_expert_score kScores[] = {USMOE_EXPERT_SCORE_SIGMOID,
                                      USMOE_EXPERT_SCORE_SOFTMAX_TOKENS};

TEST(Scores, RandomMatchOracleOnEveryTarget) {
  const ScoreCase cases[] = {
      {1, 1, {}, false},           {1, 7, {}, false},        {9, 1, {3, 0, 6}, false},
      {50, 16, {}, true},          {64, 8, {10, 0, 30, 24}, true},
      {300, 130, {100, 0, 200}, true}, {33, 129, {}, false}};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const ScoreCase& sc : cases) {
      // Logits in [-7, 7]: the f32 difference L - max is then exact to
      // ~5e-7 relative, inside the acceptance rule.
      const auto L = RandomFloats(rng, sc.T * sc.N, -7.0, 7.0);
      std::vector<uint8_t> valid;
      if (sc.masked) {
        valid.resize(static_cast<size_t>(sc.T));
        for (auto& v : valid) v = rng.Uniform(0, 1) < 0.7 ? 1 : 0;
      }
      ForEachTarget([&](const std::string&) {
        for (double a : kAlphas)
          for (auto es : kScores) CheckScores(L, sc, a, es, valid);
      });
    }
  });
}

TEST(Scores, AdversarialValues) {
  // Huge (±80), tiny (1e-30), all-equal, and duplicated rows/columns.
  const int64_t T = 12, N = 6;
  std::vector<std::vector<float>> inputs;
  std::vector<float> huge(T * N);
  for (int64_t i = 0; i < T * N; ++i) huge[i] = (i * 7 % 3 == 0) ? 80.0f : -80.0f;
  inputs.push_back(huge);
  std::vector<float> tiny(T * N);
  for (int64_t i = 0; i < T * N; ++i) tiny[i] = (i % 2 ? 1e-30f : -1e-30f) * (1 + i % 5);
  inputs.push_back(tiny);
  inputs.push_back(std::vector<float>(T * N, 0.0f));
  inputs.push_back(std::vector<float>(T * N, -3.5f));
  std::vector<float> dup(T * N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e) dup[t * N + e] = static_cast<float>((t / 2) - (e / 2));
  inputs.push_back(dup);
  std::vector<float> mixed(T * N);
  for (int64_t i = 0; i < T * N; ++i) mixed[i] = (i % 4 == 0) ? 80.0f : (i % 4 == 1 ? 1e-30f : -80.0f);
  inputs.push_back(mixed);
  const ScoreCase sc_one{T, N, {}, false}, sc_groups{T, N, {0, 5, 0, 7}, true};
  std::vector<uint8_t> valid(T, 1);
  valid[1] = valid[6] = valid[7] = 0;
  ForEachTarget([&](const std::string&) {
    for (size_t k = 0; k < inputs.size(); ++k) {
      SCOPED_TRACE("adversarial input " + std::to_string(k));
      for (double a : kAlphas)
        for (auto es : kScores) {
          CheckScores(inputs[k], sc_one, a, es, {});
          CheckScores(inputs[k], sc_groups, a, es, valid);
        }
    }
  });
}

TEST(Scores, AllEqualLogitsGiveExactUniformScores) {
  // f_t = 1/N exactly representable for N a power of two; sigmoid(0)·2/N = 1/N.
  const int64_t T = 5, N = 8;
  std::vector<float> L(T * N, 0.0f);
  ForEachTarget([&](const std::string&) {
    std::vector<float> got(T * N, -1.0f);
    ASSERT_EQ(usmoe_scores(L.data(), T, N, 0.5, USMOE_EXPERT_SCORE_SIGMOID, nullptr, 0, nullptr,
                           got.data()),
              USMOE_STATUS_SUCCESS);
    for (float g : got) EXPECT_NEAR(g, 0.125, 1e-7);
    // All cells equal: every cell must be equal to every other bitwise, or
    // the tie rule would not see a tie.
    for (float g : got) EXPECT_EQ(g, got[0]);
  });
}

TEST(Scores, PaddingRowsAndAllPaddingGroups) {
  // SOFTMAX_TOKENS: padding rows get U = (1-α)·f_t (f_e = 0); an all-padding
  // group leaves its valid tokens' softmax untouched elsewhere.
  const int64_t T = 6, N = 3;
  std::vector<float> L = {1, 2, 3, 0, 0, 0, -1, 4, 2, 5, 5, 5, 0.5f, -0.5f, 0, 2, 2, -2};
  const std::vector<int64_t> groups = {2, 2, 2};
  const std::vector<uint8_t> valid = {1, 0, 0, 0, 1, 1};  // group 1 all padding
  std::vector<double> Ld(L.begin(), L.end());
  const auto ft = oracle::SoftmaxRows(Ld, T, N);
  ForEachTarget([&](const std::string&) {
    std::vector<float> got(T * N, -1.0f);
    ASSERT_EQ(usmoe_scores(L.data(), T, N, 0.5, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS, groups.data(),
                           3, valid.data(), got.data()),
              USMOE_STATUS_SUCCESS);
    for (int64_t t : {1, 2, 3})
      for (int64_t e = 0; e < N; ++e)
        EXPECT_TRUE(ScoreClose(got[t * N + e], 0.5 * ft[t * N + e])) << t << "," << e;
    // Token 0 is the only valid token of group 0: softmax over one token = 1.
    for (int64_t e = 0; e < N; ++e)
      EXPECT_TRUE(ScoreClose(got[e], 0.5 * ft[e] + 0.5)) << e << ": " << got[e];
    CheckScores(L, ScoreCase{T, N, groups, true}, 0.5, USMOE_EXPERT_SCORE_SOFTMAX_TOKENS, valid);
  });
}

TEST(Scores, SigmoidIgnoresGroupsAndMask) {
  // The sigmoid expert score is element-wise: groups and masks only matter for
  // SOFTMAX_TOKENS, so scores of padding rows still equal the unmasked ones.
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  const int64_t T = 20, N = 7;
  const auto L = RandomFloats(rng, T * N, -5, 5);
  std::vector<uint8_t> valid(T, 1);
  valid[3] = valid[4] = 0;
  const std::vector<int64_t> groups = {5, 0, 15};
  std::vector<float> a(T * N), b(T * N);
  ASSERT_EQ(usmoe_scores(L.data(), T, N, 0.5, USMOE_EXPERT_SCORE_SIGMOID, nullptr, 0, nullptr,
                         a.data()),
            USMOE_STATUS_SUCCESS);
  ASSERT_EQ(usmoe_scores(L.data(), T, N, 0.5, USMOE_EXPERT_SCORE_SIGMOID, groups.data(), 3,
                         valid.data(), b.data()),
            USMOE_STATUS_SUCCESS);
  std::vector<double> Ld(L.begin(), L.end());
  const auto ref = oracle::UnifiedScores(Ld, T, N, 0.5, oracle::ExpertScore::kSigmoid, {}, {});
  for (int64_t i = 0; i < T * N; ++i) {
    EXPECT_TRUE(ScoreClose(b[i], ref[i])) << i << ": " << b[i] << " vs " << ref[i];
    EXPECT_TRUE(ScoreClose(a[i], ref[i])) << i;
  }
}

TEST(Scores, BitwiseIdenticalOnFmaTargets) {
  // Every cell's arithmetic must depend on its own value and its row's (or
  // column's) statistics only, never on which cells share its vector or fall
  // in a vector tail: then every x86 target with FMA (AVX2 and both AVX-512)
  // computes the same bits. Row lengths that are, and are not, multiples of
  // 8 and 16; rows spanning 80 so some exponentials fall below 2^-80 (where
  // the sigmoid takes its direct form) next to ordinary ones.
  const int64_t kLengths[] = {3, 8, 16, 24, 40, 64, 100};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (int64_t N : kLengths) {
      const int64_t T = 37;
      auto L = RandomFloats(rng, T * N, -7.0, 7.0);
      for (int64_t i = 0; i < T * N; i += 5) L[i] -= 75.0f;
      for (int64_t t = 0; t < T; t += 3) L[t * N] = 65.0f;  // |max| > 60: direct form
      for (double a : {0.0, 0.5})
        for (auto es : kScores) {
          std::vector<std::vector<float>> outs;
          std::vector<std::string> names;
          ForEachTarget([&](const std::string& name) {
            if (name != "AVX2" && name != "AVX3" && name != "AVX3_DL") return;
            std::vector<float> got(L.size());
            ASSERT_EQ(usmoe_scores(L.data(), T, N, a, es, nullptr, 0, nullptr, got.data()),
                      USMOE_STATUS_SUCCESS);
            outs.push_back(got);
            names.push_back(name);
          });
          for (size_t k = 1; k < outs.size(); ++k) {
            int64_t differing = 0;
            for (size_t i = 0; i < L.size(); ++i)
              differing += std::memcmp(&outs[0][i], &outs[k][i], 4) != 0;
            EXPECT_EQ(differing, 0) << names[0] << " vs " << names[k] << ", N=" << N
                                    << " alpha=" << a << " expert_score=" << es;
          }
        }
    }
  });
}

}  // namespace
}  // namespace usmoe_test
