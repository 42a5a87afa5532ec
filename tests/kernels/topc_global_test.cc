// src/select/topc_global.h's SelectTopCIndices split over 1 to 4 threads
// (the ranges' outputs placed from the first pass alone) against the
// oracle's sort, on every SIMD target: ties at the threshold straddling the
// ranges (the lower ranges take them first), near ties, all-equal input (no
// progress), infinities and subnormals, a sample that misses the threshold
// (the serial fallback), and NaN in the last range.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "src/select/topc_global.h"
#include "support/targets.h"

namespace usmoe_test {
namespace {

enum class Kind { kUniform, kFourLevels, kNearTies, kAllEqual, kExtremes };

std::vector<float> Make(Rng& rng, Kind kind, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  const float inf = std::numeric_limits<float>::infinity();
  for (auto& x : v) {
    switch (kind) {
      case Kind::kUniform:
        x = static_cast<float>(rng.Uniform(0, 1));
        break;
      case Kind::kFourLevels:
        x = static_cast<float>(rng.Int(0, 3)) * 0.25f;
        break;
      case Kind::kNearTies: {
        uint32_t bits = 0x3F000000u + static_cast<uint32_t>(rng.Int(0, 63));
        std::memcpy(&x, &bits, sizeof(x));
        break;
      }
      case Kind::kAllEqual:
        x = 0.3f;
        break;
      case Kind::kExtremes: {
        const int64_t r = rng.Int(0, 9);
        x = r == 0 ? inf : r == 1 ? -inf : r == 2 ? 3e-39f : r == 3 ? -0.0f
                                                            : static_cast<float>(rng.Uniform(-1, 1));
        break;
      }
    }
  }
  return v;
}

// SelectTopCIndices on `threads` ranges returns exactly the oracle's c
// indices (vector stores may spill past c: the contract gives n + 64 room).
void Check(const std::vector<float>& v, int64_t c, const std::vector<int64_t>& want,
           int threads, const std::string& what) {
  const int64_t n = static_cast<int64_t>(v.size());
  usmoe::TopCScratch s;
  std::vector<uint32_t> out(static_cast<size_t>(n + 64), 0xDEADBEEFu);
  bool nan = true;
  const int64_t m = usmoe::SelectTopCIndices(v.data(), n, c, threads, &s, out.data(), &nan);
  EXPECT_FALSE(nan) << what;
  ASSERT_EQ(m, c) << what;  // a range handing out too many ties returns more
  std::vector<int64_t> got(out.begin(), out.begin() + c);
  EXPECT_EQ(got, want) << what;
}

TEST(SelectTopCIndices, SplitOverThreadsMatchesOracle) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (Kind kind : {Kind::kUniform, Kind::kFourLevels, Kind::kNearTies, Kind::kAllEqual,
                      Kind::kExtremes}) {
      const int64_t n = rng.Int(9000, 70000);
      const auto v = Make(rng, kind, n);
      for (int64_t c : {int64_t{1}, n / 3, n / 2, rng.Int(1, n - 1), n - 1}) {
        const std::vector<int64_t> want = oracle::TopCGlobal(v.data(), n, c);
        ForEachTarget([&](const std::string&) {
          for (int threads : {1, 2, 3, 4})
            Check(v, c, want, threads,
                  "kind=" + std::to_string(static_cast<int>(kind)) + " n=" + std::to_string(n) +
                      " c=" + std::to_string(c) + " threads=" + std::to_string(threads));
        });
      }
    }
  });
}

// The bracketing sample's order statistics (vector three-way partitions)
// against std::nth_element: every rank of short arrays and random ranks of
// long ones, ties, all equal, sorted both ways, infinities, signed zeros
// (equal: the value compares equal to the oracle's), on every target. The
// top-c is exact even with a wrong bracket, so only this test sees a bug here.
TEST(KthLargest, MatchesNthElementOnEveryTarget) {
  ForEachSeed([&](uint64_t, Rng& rng) {
    std::vector<float> work;
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{17}, int64_t{65}, int64_t{100},
                      int64_t{2048}, rng.Int(66, 5000)}) {
      for (int kind = 0; kind < 7; ++kind) {
        std::vector<float> v(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          switch (kind) {
            case 0: v[i] = static_cast<float>(rng.Uniform(-1, 1)); break;
            case 1: v[i] = static_cast<float>(rng.Int(0, 3)); break;
            case 2: v[i] = 0.5f; break;
            case 3: v[i] = static_cast<float>(i); break;
            case 4: v[i] = static_cast<float>(n - i); break;
            case 5: {
              const int64_t r = rng.Int(0, 4);
              v[i] = r == 0 ? std::numeric_limits<float>::infinity()
                     : r == 1 ? -std::numeric_limits<float>::infinity()
                     : r == 2 ? -0.0f
                     : r == 3 ? 0.0f
                              : static_cast<float>(rng.Uniform(-1e30, 1e30));
              break;
            }
            default: v[i] = (i % 2 ? 1.0f : -1.0f) * static_cast<float>(i % 7); break;
          }
        }
        std::vector<int64_t> ks;
        if (n <= 100) {
          for (int64_t k = 0; k < n; ++k) ks.push_back(k);
        } else {
          ks = {0, n - 1, n / 2, rng.Int(0, n - 1), rng.Int(0, n - 1)};
        }
        for (int64_t k : ks) {
          std::vector<float> sorted = v;
          std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end(), std::greater<float>());
          const std::vector<float> before = v;
          ForEachTarget([&](const std::string&) {
            const float got = usmoe::KthLargest(v.data(), n, k, &work);
            EXPECT_TRUE(got == sorted[k])
                << "kind=" << kind << " n=" << n << " k=" << k << ": " << got << " want "
                << sorted[k];
          });
          ASSERT_EQ(v, before) << "input changed";
        }
      }
    }
  });
}

TEST(SelectTopCIndices, SampleThatMissesTheThreshold) {
  // The cells a golden-ratio sample of 2048 reads hold the smallest values:
  // the first bracket lies below the threshold, and the split must not be
  // used with that pass's counts.
  ForEachSeed([&](uint64_t, Rng& rng) {
    const int64_t n = 100000;
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.Uniform(1, 2));
    uint64_t u = 0;  // the sample's positions: frac(j·phi)·n in 32.32 fixed point
    for (int64_t j = 0; j < 2048; ++j, u += 0x9E3779B97F4A7C15u)
      v[static_cast<int64_t>(((u >> 32) * static_cast<uint64_t>(n)) >> 32)] = 0.5f;
    for (int64_t c : {int64_t{1000}, n / 2, n - 5000}) {
      const std::vector<int64_t> want = oracle::TopCGlobal(v.data(), n, c);
      for (int threads : {1, 2, 3}) Check(v, c, want, threads, "c=" + std::to_string(c));
    }
  });
}

TEST(SelectTopCIndices, NaNInTheLastRange) {
  std::vector<float> v(150001, 0.25f);
  v[149999] = std::numeric_limits<float>::quiet_NaN();
  for (int threads : {1, 2, 3}) {
    usmoe::TopCScratch s;
    std::vector<uint32_t> out(v.size() + 64);
    bool nan = false;
    EXPECT_EQ(usmoe::SelectTopCIndices(v.data(), 150001, 100, threads, &s, out.data(), &nan), 0);
    EXPECT_TRUE(nan) << "threads=" << threads;
  }
}

}  // namespace
}  // namespace usmoe_test
