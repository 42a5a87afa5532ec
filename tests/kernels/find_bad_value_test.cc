// src/route/find_bad_value.h (the NaN / non-finite input scans) against a
// plain loop, on every SIMD target: bad values planted at random positions
// (chunk boundaries and tails included), every NaN and Inf bit pattern kind,
// lengths 0 .. a few chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "src/route/find_bad_value.h"
#include "src/runtime/threads.h"
#include "support/targets.h"

namespace usmoe_test {
namespace {

float FromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

int64_t OracleFirst(const std::vector<float>& v, bool nan_only) {
  for (size_t i = 0; i < v.size(); ++i)
    if (nan_only ? std::isnan(v[i]) : !std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}

TEST(FindBadValue, MatchesPlainLoopOnEveryTarget) {
  const float kBad[] = {std::numeric_limits<float>::quiet_NaN(),
                        -std::numeric_limits<float>::quiet_NaN(),
                        FromBits(0x7F800001u),  // signalling NaN, smallest payload
                        FromBits(0xFFFFFFFFu),  // -NaN, largest payload
                        std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity()};
  const int64_t kLengths[] = {0, 1, 15, 16, 17, 1023, 1024, 1025, 4096 + 7};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (int64_t n : kLengths) {
      for (int trial = 0; trial < 12; ++trial) {
        std::vector<float> v = RandomFloats(rng, n, -3e38, 3e38);
        if (n > 0 && trial % 3 == 1) v[rng.Int(0, n - 1)] = 0.0f;
        // 0, 1 or 2 bad values; the largest finite value stays finite.
        const int planted = n == 0 ? 0 : static_cast<int>(trial % 3);
        for (int p = 0; p < planted; ++p) {
          const int64_t at = trial == 2 ? n - 1 : rng.Int(0, n - 1);
          v[at] = kBad[rng.Int(0, 5)];
        }
        if (n > 0 && trial == 5) v[0] = std::numeric_limits<float>::max();
        const int64_t want_nan = OracleFirst(v, true), want_any = OracleFirst(v, false);
        ForEachTarget([&](const std::string&) {
          EXPECT_EQ(usmoe::FindFirstNaN(v.data(), n), want_nan) << "n=" << n << " trial=" << trial;
          EXPECT_EQ(usmoe::FindFirstNonFinite(v.data(), n), want_any)
              << "n=" << n << " trial=" << trial;
        });
      }
    }
  });
}

TEST(FindBadValue, SplitOverThreadsFindsTheFirst) {
  // Past ~1 MB the scan is split over the threads: the answer must still be
  // the first bad value, wherever the ranges fall (1-3 threads, values
  // planted in one range, in several, on a range's first and last cell).
  const int64_t n = (int64_t{1} << 18) + 4097;
  ForEachSeed([&](uint64_t, Rng& rng) {
    std::vector<float> v = RandomFloats(rng, n, -3e38, 3e38);
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<float> w = v;
      const int planted = trial % 4;
      for (int p = 0; p < planted; ++p) {
        int64_t at = rng.Int(0, n - 1);
        if (trial == 5) at = n / 2 + p;          // near the 2-thread boundary
        if (trial == 6) at = (n / 3) * (p + 1);  // one per 3-thread range
        if (trial == 9) at = n - 1 - p;          // last range's tail
        w[at] = p % 2 ? std::numeric_limits<float>::infinity()
                      : std::numeric_limits<float>::quiet_NaN();
      }
      const int64_t want_nan = OracleFirst(w, true), want_any = OracleFirst(w, false);
      for (int threads : {1, 2, 3}) {
        usmoe::SetNumThreads(threads);
        EXPECT_EQ(usmoe::FindFirstNaN(w.data(), n), want_nan)
            << "threads=" << threads << " trial=" << trial;
        EXPECT_EQ(usmoe::FindFirstNonFinite(w.data(), n), want_any)
            << "threads=" << threads << " trial=" << trial;
      }
      usmoe::SetNumThreads(0);
    }
  });
}

}  // namespace
}  // namespace usmoe_test
