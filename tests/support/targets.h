// Test support: run a body on every SIMD target, and seeded random inputs.
//
// ForEachTarget(fn) forces each Highway target this CPU supports and this
// build compiled (usmoe_simd_supported_targets), one at a time, through the
// public C API, runs fn(target_name) under a SCOPED_TRACE naming the
// target, and restores the default dispatch afterwards (also when fn fails
// with a fatal assertion).
//
// Seeds: every randomized test runs once per seed of kTestSeeds below (a
// fixed, documented list, so failures are reproducible), or only with the
// seed given by the environment variable USMOE_TEST_SEED when it is set
// (decimal or 0x-hex). ForEachSeed puts "seed=<s>" in the trace of every
// failure, so a failing case can be rerun with USMOE_TEST_SEED=<s>.
#ifndef USMOE_TESTS_SUPPORT_TARGETS_H_
#define USMOE_TESTS_SUPPORT_TARGETS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace usmoe_test {

// Calls fn(name) once per supported SIMD target, with that target forced.
// Returns the number of targets visited (≥ 1 on any working build).
int ForEachTarget(const std::function<void(const std::string& target_name)>& fn);

// Restores default dispatch and thread count on scope exit.
class DispatchRestorer {
 public:
  DispatchRestorer() = default;
  ~DispatchRestorer();
  DispatchRestorer(const DispatchRestorer&) = delete;
  DispatchRestorer& operator=(const DispatchRestorer&) = delete;
};

// Runs fn with usmoe_set_num_threads(n) for n in `counts`, restores 0 after.
void ForEachThreadCount(const std::vector<int32_t>& counts,
                        const std::function<void(int32_t threads)>& fn);

// The fixed seed list used when USMOE_TEST_SEED is not set.
extern const uint64_t kTestSeeds[3];

// The seeds to use: {USMOE_TEST_SEED} if set, else kTestSeeds.
std::vector<uint64_t> TestSeeds();

// Deterministic generator (splitmix64 seeding + xoshiro256**), identical on
// every platform and standard library (no std:: distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t NextU64();
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi);
  // Uniform integer in [lo, hi] (inclusive).
  int64_t Int(int64_t lo, int64_t hi);
  // Standard normal (Box–Muller).
  double Normal();
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

// Calls fn(seed, rng) for each seed in TestSeeds(), with a SCOPED_TRACE
// "seed=<s> (rerun: USMOE_TEST_SEED=<s>)" around the call.
void ForEachSeed(const std::function<void(uint64_t seed, Rng& rng)>& fn);

// Random f32 vector, each entry uniform in [lo, hi).
std::vector<float> RandomFloats(Rng& rng, int64_t n, double lo, double hi);

// Random f32 vector, each entry scale·N(0,1).
std::vector<float> RandomNormals(Rng& rng, int64_t n, double scale);

// f32 -> bf16 bit pattern, round to nearest even (inputs are finite here).
uint16_t F32ToBf16(float v);
float Bf16ToF32(uint16_t b);
std::vector<uint16_t> ToBf16(const std::vector<float>& v);

}  // namespace usmoe_test

#endif  // USMOE_TESTS_SUPPORT_TARGETS_H_
