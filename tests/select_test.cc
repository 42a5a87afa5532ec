// Kernel entry points of the selection stage (usmoe_topk_rows,
// usmoe_topc_cols, usmoe_topc_global) against the oracle's full sort, on
// every SIMD target. Results must be exact: same indices, same values, same
// order (tie rule: higher score first, equal scores lower index first,
// -0.0 == +0.0).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "oracle/oracle.h"
#include "support/capi_helpers.h"
#include "support/targets.h"
#include "usmoe/usmoe.h"

namespace usmoe_test {
namespace {

// Kinds of score matrices, from benign to adversarial.
enum class Fill {
  kUniform, kFewLevels, kAllEqual, kSignedZeros, kTinyAndHuge, kDupRowsCols,
  kNearTies
};

std::vector<float> MakeScores(Rng& rng, Fill fill, int64_t T, int64_t N) {
  std::vector<float> s(static_cast<size_t>(T * N));
  switch (fill) {
    case Fill::kUniform:
      for (auto& v : s) v = static_cast<float>(rng.Uniform(0, 1));
      break;
    case Fill::kFewLevels:  // heavy ties
      for (auto& v : s) v = static_cast<float>(rng.Int(0, 3)) * 0.25f;
      break;
    case Fill::kAllEqual:
      for (auto& v : s) v = 0.3f;
      break;
    case Fill::kSignedZeros:  // -0.0 and +0.0 must tie; a few positives/negatives
      for (auto& v : s) {
        const int64_t r = rng.Int(0, 9);
        v = r < 4 ? -0.0f : (r < 8 ? 0.0f : (r == 8 ? 1e-3f : -1e-3f));
      }
      break;
    case Fill::kTinyAndHuge:
      for (auto& v : s) {
        const int64_t r = rng.Int(0, 5);
        v = r == 0   ? 1e-30f
            : r == 1 ? -1e-30f
            : r == 2 ? 1e30f
            : r == 3 ? std::numeric_limits<float>::denorm_min()
            : r == 4 ? 3e-39f  // subnormal
                     : static_cast<float>(rng.Uniform(-80, 80));
      }
      break;
    case Fill::kDupRowsCols: {  // duplicated rows and columns
      std::vector<float> row(static_cast<size_t>(N));
      for (int64_t e = 0; e < N; ++e) row[e] = static_cast<float>(rng.Uniform(0, 1));
      for (int64_t e = 1; e < N; e += 3) row[e] = row[e - 1];
      for (int64_t t = 0; t < T; ++t)
        for (int64_t e = 0; e < N; ++e) s[t * N + e] = row[e] * static_cast<float>(1 + t / 2);
      break;
    }
    case Fill::kNearTies: {  // values a few ulps apart (and exact repeats), both signs:
      // defeats any selection that compares truncated keys without an exact check
      const float base = static_cast<float>(rng.Uniform(0.1, 1));
      for (auto& v : s) {
        uint32_t bits;
        std::memcpy(&bits, &base, sizeof(bits));
        bits += static_cast<uint32_t>(rng.Int(0, 2047));
        std::memcpy(&v, &bits, sizeof(v));
        if (rng.Int(0, 7) == 0) v = -v;
      }
      break;
    }
  }
  return s;
}

const Fill kFills[] = {Fill::kUniform,     Fill::kFewLevels,   Fill::kAllEqual,
                       Fill::kSignedZeros, Fill::kTinyAndHuge, Fill::kDupRowsCols,
                       Fill::kNearTies};

struct TN {
  int64_t T, N;
};
const TN kShapes[] = {{1, 1},   {1, 9},    {7, 1},    {13, 5},  {64, 64},
                      {300, 130}, {40, 17}, {35, 256}, {49, 48}, {18, 1024}};

std::vector<int64_t> KsFor(int64_t N) {
  std::vector<int64_t> ks = {1, 2, 3, 6, 8, N / 2, 16, 17, N - 1, N};
  std::vector<int64_t> out;
  for (int64_t k : ks)
    if (k >= 1 && k <= N && std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  return out;
}

TEST(TopKRows, MatchesOracleOnEveryTarget) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const TN& s : kShapes)
      for (Fill fill : kFills) {
        const auto scores = MakeScores(rng, fill, s.T, s.N);
        SCOPED_TRACE("T=" + std::to_string(s.T) + " N=" + std::to_string(s.N) +
                     " fill=" + std::to_string(static_cast<int>(fill)));
        for (int64_t k : KsFor(s.N)) {
          std::vector<int64_t> want_ids;
          std::vector<float> want_vals;
          oracle::TopKRows(scores.data(), s.T, s.N, k, &want_ids, &want_vals);
          ForEachTarget([&](const std::string&) {
            std::vector<int64_t> ids(static_cast<size_t>(s.T * k), -1);
            std::vector<float> vals(static_cast<size_t>(s.T * k), -5.0f);
            ASSERT_EQ(usmoe_topk_rows(scores.data(), s.T, s.N, k, ids.data(), vals.data()),
                      USMOE_STATUS_SUCCESS)
                << usmoe_last_error();
            EXPECT_EQ(ids, want_ids) << "k=" << k;
            EXPECT_EQ(vals, want_vals) << "k=" << k;
          });
        }
      }
  });
}

// usmoe_topc_cols on scores (T x N, capacity C) equals the oracle's ids
// and values; `what` names the case in failure messages.
void ExpectTopCColsMatch(const float* scores, int64_t T, int64_t N, int64_t C,
                         const std::vector<int64_t>& want_ids,
                         const std::vector<float>& want_vals, const std::string& what) {
  std::vector<int64_t> ids(static_cast<size_t>(N * C), -1);
  std::vector<float> vals(static_cast<size_t>(N * C), -5.0f);
  ASSERT_EQ(usmoe_topc_cols(scores, T, N, C, ids.data(), vals.data()), USMOE_STATUS_SUCCESS)
      << usmoe_last_error();
  EXPECT_EQ(ids, want_ids) << what;
  EXPECT_EQ(vals, want_vals) << what;
}

TEST(TopCCols, MatchesOracleOnEveryTarget) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const TN& s : kShapes)
      for (Fill fill : kFills) {
        const auto scores = MakeScores(rng, fill, s.T, s.N);
        SCOPED_TRACE("T=" + std::to_string(s.T) + " N=" + std::to_string(s.N) +
                     " fill=" + std::to_string(static_cast<int>(fill)));
        for (int64_t C : KsFor(s.T)) {
          std::vector<int64_t> want_ids;
          std::vector<float> want_vals;
          oracle::TopCCols(scores.data(), s.T, s.N, C, &want_ids, &want_vals);
          ForEachTarget([&](const std::string&) {
            ExpectTopCColsMatch(scores.data(), s.T, s.N, C, want_ids, want_vals,
                                "C=" + std::to_string(C));
          });
        }
      }
  });
}

// Long columns (the many-bin path) mixing every kind of column the column
// select distinguishes: infinities and spans that overflow (selected
// exactly), all-equal, few levels (big threshold bins), and plain ones.
TEST(TopCCols, LongColumnsOfEveryKind) {
  const float inf = std::numeric_limits<float>::infinity();
  ForEachSeed([&](uint64_t, Rng& rng) {
    const int64_t T = 4100, N = 21;
    std::vector<float> s(static_cast<size_t>(T * N));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < N; ++e) {
        float v = static_cast<float>(rng.Uniform(-1, 1));
        const int64_t r = rng.Int(0, 99);
        if (e == 0 && r < 3) v = r == 0 ? inf : -inf;
        if (e == 1 && r < 10) v = r < 5 ? 3e38f : -3e38f;
        if (e == 2) v = 0.25f;
        if (e == 3) v = static_cast<float>(rng.Int(0, 2));
        if (e == 4) v = static_cast<float>(rng.Uniform(0, 1e-37));  // subnormal-scale span
        s[t * N + e] = v;
      }
    for (int64_t C : {int64_t{1}, int64_t{512}, rng.Int(1, T), T - 1, T}) {
      std::vector<int64_t> want_ids;
      std::vector<float> want_vals;
      oracle::TopCCols(s.data(), T, N, C, &want_ids, &want_vals);
      ForEachTarget([&](const std::string&) {
        ExpectTopCColsMatch(s.data(), T, N, C, want_ids, want_vals, "C=" + std::to_string(C));
      });
    }
  });
}

// The column select transposes strips of 16 columns and selects each strip
// while it is in cache, one strip per worker; with fewer strips than
// threads it transposes by row blocks first. Both ways, and partial strips
// (N not a multiple of 16), for 1 to 4 threads, on blocks large enough to
// run in parallel.
TEST(TopCCols, EveryThreadCountAndStripWidth) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (const TN& s : {TN{4100, 8}, TN{2000, 20}, TN{1100, 35}, TN{3000, 16}, TN{700, 64}}) {
      const auto scores = MakeScores(rng, Fill::kFewLevels, s.T, s.N);
      const int64_t C = rng.Int(1, s.T - 1);
      SCOPED_TRACE("T=" + std::to_string(s.T) + " N=" + std::to_string(s.N) +
                   " C=" + std::to_string(C));
      std::vector<int64_t> want_ids;
      std::vector<float> want_vals;
      oracle::TopCCols(scores.data(), s.T, s.N, C, &want_ids, &want_vals);
      ForEachThreadCount({1, 2, 3, 4}, [&](int32_t threads) {
        ForEachTarget([&](const std::string&) {
          ExpectTopCColsMatch(scores.data(), s.T, s.N, C, want_ids, want_vals,
                              "threads=" + std::to_string(threads));
        });
      });
    }
  });
}

void CheckGlobal(const std::vector<float>& v, int64_t c) {
  const int64_t n = static_cast<int64_t>(v.size());
  const auto want = oracle::TopCGlobal(v.data(), n, c);
  std::vector<int64_t> got(static_cast<size_t>(c), -1);
  ASSERT_EQ(usmoe_topc_global(v.data(), n, c, got.data(), c), USMOE_STATUS_SUCCESS)
      << usmoe_last_error() << " (n=" << n << " c=" << c << ")";
  EXPECT_EQ(got, want) << "n=" << n << " c=" << c;
}

TEST(TopCGlobal, MatchesOracleOnEveryTarget) {
  const int64_t sizes[] = {1, 2, 10, 257, 1000, 39000};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (int64_t n : sizes)
      for (Fill fill : kFills) {
        const auto v = MakeScores(rng, fill, 1, n);
        SCOPED_TRACE("n=" + std::to_string(n) + " fill=" + std::to_string(static_cast<int>(fill)));
        std::vector<int64_t> cs = {0, 1, n / 3, n / 2, n - 1, n, rng.Int(0, n)};
        ForEachTarget([&](const std::string&) {
          for (int64_t c : cs)
            if (c >= 0 && c <= n) CheckGlobal(v, c);
        });
      }
  });
}

TEST(TopCGlobal, InfinitiesAndNegativesAreOrdered) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {-inf, 3.0f, inf, -0.0f, 0.0f, -2.0f, inf, -inf, 1e-30f, -1e-30f};
  ForEachTarget([&](const std::string&) {
    for (int64_t c = 0; c <= static_cast<int64_t>(v.size()); ++c) CheckGlobal(v, c);
  });
  // Explicit expectations (not only the oracle): top-3 = {2, 6, 1}.
  std::vector<int64_t> got(3, -1);
  ASSERT_EQ(usmoe_topc_global(v.data(), 10, 3, got.data(), 3), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(got, (std::vector<int64_t>{1, 2, 6}));
  // top-5: +inf, +inf, 3, 1e-30, then the tie -0.0 (index 3) vs +0.0 (4): 3 wins.
  got.assign(5, -1);
  ASSERT_EQ(usmoe_topc_global(v.data(), 10, 5, got.data(), 5), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(got, (std::vector<int64_t>{1, 2, 3, 6, 8}));
}

TEST(TopCGlobal, ThresholdTiesAcrossManyEqualValues) {
  // 90% of the cells share the value at the threshold: the lowest indices of
  // the tie must win, whatever the sampling inside the radix select sees.
  ForEachSeed([&](uint64_t, Rng& rng) {
    const int64_t n = 20000;
    std::vector<float> v(n, 0.5f);
    for (int64_t i = 0; i < n / 10; ++i) v[rng.Int(0, n - 1)] = static_cast<float>(rng.Uniform(0, 1));
    ForEachTarget([&](const std::string&) {
      for (int64_t c : {int64_t{1}, int64_t{977}, n / 2, n - 3}) CheckGlobal(v, c);
    });
  });
}

// From 2^20 cells usmoe_topc_global splits its passes over the threads
// (tests/kernels/topc_global_test.cc covers the split itself on every kind
// of input); here the C entry point, 1 to 3 threads, heavy ties at the
// threshold, and NaN in the last range: rejected, the first NaN named,
// nothing written.
TEST(TopCGlobal, SplitOverThreadsMatchesOracle) {
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  const int64_t n = (int64_t{1} << 20) + rng.Int(0, 5000);
  for (Fill fill : {Fill::kUniform, Fill::kFewLevels}) {
    const auto v = MakeScores(rng, fill, 1, n);
    for (int64_t c : {n / 8, rng.Int(1, n - 1)}) {
      const auto want = oracle::TopCGlobal(v.data(), n, c);
      ForEachThreadCount({1, 2, 3}, [&](int32_t threads) {
        // 64 guard entries past c: a range handing out too many ties
        // would write there.
        std::vector<int64_t> got(static_cast<size_t>(c + 64), -1);
        ASSERT_EQ(usmoe_topc_global(v.data(), n, c, got.data(), c), USMOE_STATUS_SUCCESS)
            << usmoe_last_error();
        EXPECT_EQ(std::vector<int64_t>(got.begin() + c, got.end()), std::vector<int64_t>(64, -1))
            << "c=" << c << " threads=" << threads;
        got.resize(static_cast<size_t>(c));
        EXPECT_EQ(got, want) << "fill=" << static_cast<int>(fill) << " c=" << c
                             << " threads=" << threads;
      });
    }
  }
  std::vector<float> v(n, 0.25f);
  v[n - 2] = std::numeric_limits<float>::quiet_NaN();
  v[n - 1] = std::numeric_limits<float>::quiet_NaN();
  ForEachThreadCount({1, 2, 3}, [&](int32_t) {
    std::vector<int64_t> got(100, -7);
    EXPECT_EQ(usmoe_topc_global(v.data(), n, 100, got.data(), 100), USMOE_STATUS_NON_FINITE_INPUT);
    EXPECT_NE(std::string(usmoe_last_error()).find(std::to_string(n - 2)), std::string::npos)
        << usmoe_last_error();
    EXPECT_EQ(got, std::vector<int64_t>(100, -7));
  });
}

TEST(TopKRows, SignedZerosTie) {
  const float row[] = {-0.0f, 0.0f, -0.0f, 0.0f};
  ForEachTarget([&](const std::string&) {
    int64_t ids[4];
    float vals[4];
    ASSERT_EQ(usmoe_topk_rows(row, 1, 4, 4, ids, vals), USMOE_STATUS_SUCCESS);
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(ids[i], i);
    ASSERT_EQ(usmoe_topc_cols(row, 4, 1, 2, ids, vals), USMOE_STATUS_SUCCESS);
    EXPECT_EQ(ids[0], 0);
    EXPECT_EQ(ids[1], 1);
  });
}

TEST(Select, IdenticalAcrossThreadCounts) {
  Rng rng(TestSeeds()[0]);
  SCOPED_TRACE("seed=" + std::to_string(TestSeeds()[0]));
  const int64_t T = 300, N = 130;
  const auto scores = MakeScores(rng, Fill::kFewLevels, T, N);
  std::vector<int64_t> ref_k, ref_c, ref_g;
  ForEachThreadCount({1, 2, 3}, [&](int32_t) {
    std::vector<int64_t> ik(T * 8), ic(N * 50), ig(5000);
    std::vector<float> vk(T * 8), vc(N * 50);
    ASSERT_EQ(usmoe_topk_rows(scores.data(), T, N, 8, ik.data(), vk.data()), USMOE_STATUS_SUCCESS);
    ASSERT_EQ(usmoe_topc_cols(scores.data(), T, N, 50, ic.data(), vc.data()), USMOE_STATUS_SUCCESS);
    ASSERT_EQ(usmoe_topc_global(scores.data(), T * N, 5000, ig.data(), 5000), USMOE_STATUS_SUCCESS);
    if (ref_k.empty()) {
      ref_k = ik;
      ref_c = ic;
      ref_g = ig;
    }
    EXPECT_EQ(ik, ref_k);
    EXPECT_EQ(ic, ref_c);
    EXPECT_EQ(ig, ref_g);
  });
  EXPECT_EQ(ref_g, oracle::TopCGlobal(scores.data(), T * N, 5000));
}

}  // namespace
}  // namespace usmoe_test

namespace usmoe_test {
namespace {

TEST(Targets, ForEachTargetVisitsEverySupportedTarget) {
  int64_t supported = 0;
  ASSERT_EQ(usmoe_simd_supported_targets(&supported), USMOE_STATUS_SUCCESS);
  std::vector<std::string> names;
  const int visited = ForEachTarget([&](const std::string& name) { names.push_back(name); });
  EXPECT_EQ(visited, __builtin_popcountll(static_cast<unsigned long long>(supported)));
  EXPECT_EQ(static_cast<int>(names.size()), visited);
  for (const auto& n : names) EXPECT_FALSE(n.empty());
#if defined(__x86_64__) || defined(__i386__)
  // On x86 the portable fallback is among them (the slowest, most different
  // path). Arm builds have NEON as their baseline and compile no fallback.
  EXPECT_TRUE(std::find(names.begin(), names.end(), "SCALAR") != names.end() ||
              std::find(names.begin(), names.end(), "EMU128") != names.end())
      << "no SCALAR/EMU128 target visited";
#endif
  // Dispatch is restored afterwards.
  int64_t after = 0;
  ASSERT_EQ(usmoe_simd_supported_targets(&after), USMOE_STATUS_SUCCESS);
  EXPECT_EQ(after, supported);
}

}  // namespace
}  // namespace usmoe_test
