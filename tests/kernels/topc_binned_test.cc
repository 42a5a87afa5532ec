// src/select/topc_binned.h (the Expert-Choice column threshold) against a
// full sort, on every SIMD target: random columns with many ties, every
// budget class, and the scratch's carried-over first guess (the cut of the
// previous column) set to values that land below, inside and above the
// [c, 3c] window, on the threshold itself, and on the column's extremes.
// The guess may only change the speed, never the threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "src/select/select_keys.h"
#include "src/select/topc_binned.h"
#include "support/targets.h"

namespace usmoe_test {
namespace {

struct Want {
  float kf;
  int64_t ties;
};

Want Oracle(const std::vector<float>& v, int64_t c) {
  std::vector<float> s = v;
  std::sort(s.begin(), s.end(), std::greater<float>());
  const float kf = s[c - 1];
  int64_t greater = 0;
  for (float x : v) greater += x > kf;
  return {kf, c - greater};
}

void Expect(const std::vector<float>& v, int64_t c, usmoe::BinnedScratch* s, const char* what) {
  const Want want = Oracle(v, c);
  const float lo = *std::min_element(v.begin(), v.end());
  const float hi = *std::max_element(v.begin(), v.end());
  const usmoe::TopCThreshold th =
      usmoe::FindTopCThresholdBinned(v.data(), static_cast<int64_t>(v.size()), c, lo, hi, s);
  EXPECT_EQ(th.key, usmoe::OrderedKey(want.kf)) << what << " n=" << v.size() << " c=" << c;
  EXPECT_EQ(th.ties, want.ties) << what << " n=" << v.size() << " c=" << c;
}

TEST(TopCBinned, CarriedGuessNeverChangesTheThreshold) {
  const int64_t kLengths[] = {256, 1000, 4096};
  ForEachSeed([&](uint64_t, Rng& rng) {
    for (int64_t n : kLengths) {
      // Scores in [0, 1) rounded to 1/64 (many ties), plus a long tail.
      std::vector<float> v = RandomFloats(rng, n, 0.0, 1.0);
      for (float& x : v) x = std::floor(x * 64.0f) / 64.0f;
      for (int64_t i = 0; i < n; i += 17) v[i] *= 9.0f;
      const float lo = *std::min_element(v.begin(), v.end());
      const float hi = *std::max_element(v.begin(), v.end());
      for (int64_t c : {int64_t{1}, n / 32, n / 8, n / 4, n / 2, n}) {
        if (c < 1) continue;
        std::vector<float> sorted = v;
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        // Guesses: the values of rank c/2, c, 2c, 3c, 5c, and the extremes
        // nudged inwards (a guess must lie strictly inside (lo, hi)).
        std::vector<float> guesses = {std::nextafter(lo, hi), std::nextafter(hi, lo),
                                      (lo + hi) / 2};
        for (int64_t r : {c / 2, c, 2 * c, 3 * c, 5 * c})
          if (r >= 1 && r <= n) guesses.push_back(sorted[r - 1]);
        ForEachTarget([&](const std::string&) {
          usmoe::BinnedScratch fresh;
          Expect(v, c, &fresh, "fresh scratch");
          for (float g : guesses) {
            usmoe::BinnedScratch s;
            s.hint = g;
            s.hint_n = n;
            s.hint_c = c;
            Expect(v, c, &s, "guess");
            Expect(v, c, &s, "its own guess carried over");
          }
        });
      }
    }
  });
}

}  // namespace
}  // namespace usmoe_test
