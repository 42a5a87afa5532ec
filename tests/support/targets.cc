#include "support/targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "usmoe/usmoe.h"

namespace usmoe_test {

DispatchRestorer::~DispatchRestorer() {
  usmoe_simd_set_targets(0);
  usmoe_set_num_threads(0);
}

int ForEachTarget(const std::function<void(const std::string&)>& fn) {
  int64_t supported = 0;
  EXPECT_EQ(usmoe_simd_supported_targets(&supported), USMOE_STATUS_SUCCESS);
  EXPECT_NE(supported, 0) << "no SIMD target reported";
  DispatchRestorer restore;
  int visited = 0;
  for (int64_t bits = supported; bits != 0; bits &= bits - 1) {
    const int64_t bit = bits & (~bits + 1);
    const usmoe_status st = usmoe_simd_set_targets(bit);
    EXPECT_EQ(st, USMOE_STATUS_SUCCESS) << "usmoe_simd_set_targets(0x" << std::hex << bit
                                        << ") failed: " << usmoe_last_error();
    if (st != USMOE_STATUS_SUCCESS) continue;
    const char* name = nullptr;
    EXPECT_EQ(usmoe_simd_target_name(&name), USMOE_STATUS_SUCCESS);
    const std::string target = name ? name : "(null)";
    SCOPED_TRACE("SIMD target " + target + " (bit 0x" + [&] {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(bit));
      return std::string(buf);
    }() + ")");
    fn(target);
    ++visited;
  }
  return visited;
}

void ForEachThreadCount(const std::vector<int32_t>& counts,
                        const std::function<void(int32_t)>& fn) {
  for (int32_t n : counts) {
    EXPECT_EQ(usmoe_set_num_threads(n), USMOE_STATUS_SUCCESS);
    SCOPED_TRACE("threads=" + std::to_string(n));
    fn(n);
  }
  EXPECT_EQ(usmoe_set_num_threads(0), USMOE_STATUS_SUCCESS);
}

// Documented seed list: three arbitrary fixed values.
const uint64_t kTestSeeds[3] = {20250301u, 0x5eed0001u, 987654321u};

std::vector<uint64_t> TestSeeds() {
  const char* env = std::getenv("USMOE_TEST_SEED");
  if (env && *env) return {static_cast<uint64_t>(std::strtoull(env, nullptr, 0))};
  return {kTestSeeds[0], kTestSeeds[1], kTestSeeds[2]};
}

namespace {
uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) : seed_(seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = SplitMix(&x);
}

uint64_t Rng::NextU64() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Rng::Uniform(double lo, double hi) {
  const double u = static_cast<double>(NextU64() >> 11) * (1.0 / 9007199254740992.0);
  return lo + (hi - lo) * u;
}

int64_t Rng::Int(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(NextU64() % span);
}

double Rng::Normal() {
  double u1 = Uniform(0.0, 1.0);
  if (u1 < 1e-300) u1 = 1e-300;
  const double u2 = Uniform(0.0, 1.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

void ForEachSeed(const std::function<void(uint64_t, Rng&)>& fn) {
  for (uint64_t seed : TestSeeds()) {
    SCOPED_TRACE("seed=" + std::to_string(seed) +
                 " (rerun: USMOE_TEST_SEED=" + std::to_string(seed) + ")");
    Rng rng(seed);
    fn(seed, rng);
  }
}

std::vector<float> RandomFloats(Rng& rng, int64_t n, double lo, double hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(rng.Uniform(lo, hi));
  return v;
}

std::vector<float> RandomNormals(Rng& rng, int64_t n, double scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(scale * rng.Normal());
  return v;
}

uint16_t F32ToBf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float Bf16ToF32(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = F32ToBf16(v[i]);
  return out;
}

}  // namespace usmoe_test
