// Shared helpers of the libFuzzer harnesses (tests/fuzz/fuzz_*.cc).
//
// The harnesses call only the public C ABI. Each input is decoded by a
// ByteReader into sizes, options and float bit patterns (NaN with payloads,
// ±Inf, denormals, -0.0, ties), the library's answer is checked against a
// tiny brute-force reference written here, and any disagreement with the
// documented contract ends in FUZZ_CHECK -> __builtin_trap(), which libFuzzer
// records as a crash (the input is saved as crash-<sha1>).
#ifndef USMOE_TESTS_FUZZ_FUZZ_COMMON_H_
#define USMOE_TESTS_FUZZ_FUZZ_COMMON_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "usmoe/usmoe.h"

// FUZZ_VERBOSE=1 in the environment: the harnesses print the decoded problem.
inline bool FuzzVerbose() {
  static const bool v = std::getenv("FUZZ_VERBOSE") != nullptr;
  return v;
}
#define FUZZ_LOG(...) \
  do {                                                \
    if (FuzzVerbose()) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

#define FUZZ_CHECK(cond)                                                      \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  last error: %s\n", \
                   __FILE__, __LINE__, #cond, usmoe_last_error());            \
      __builtin_trap();                                                       \
    }                                                                         \
  } while (0)

namespace fuzz {

// Reads the fuzz input front to back. When the bytes run out it continues
// with a deterministic xorshift stream seeded from the input, so short inputs
// still give full-size problems (and zeros never dominate).
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), n_(size) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ size;
    for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001B3ull;
    s_ = h | 1;
  }
  uint8_t U8() {
    if (i_ < n_) return p_[i_++];
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return static_cast<uint8_t>(s_ >> 24);
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) | (static_cast<uint32_t>(U16()) << 16); }
  bool exhausted() const { return i_ >= n_; }

 private:
  const uint8_t* p_;
  size_t n_, i_ = 0;
  uint64_t s_;
};

inline float FromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint32_t ToBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// One float from the stream. Mostly small multiples of 1/32 (many exact ties),
// then raw bit patterns, denormals, signed zeros, infinities, NaNs (quiet,
// signalling, negative, with payloads) and large values.
// allow_special = false never returns NaN/Inf.
inline float NextFloat(ByteReader& r, bool allow_special = true) {
  const uint8_t sel = r.U8();
  if (sel < 150) return static_cast<float>(static_cast<int8_t>(r.U8())) / 32.0f;
  if (sel < 190) {
    const float f = FromBits(r.U32());
    if (!allow_special && !std::isfinite(f)) return 1.5f;
    return f;
  }
  if (sel < 205) return FromBits((r.U32() & 0x807FFFFFu));  // denormal or ±0
  if (sel < 212) return -0.0f;
  if (sel < 218) return 0.0f;
  if (sel < 236 || !allow_special)
    return static_cast<float>(static_cast<int8_t>(r.U8())) * 1000.0f;
  switch (sel % 6) {
    case 0: return FromBits(0x7F800000u);                       // +Inf
    case 1: return FromBits(0xFF800000u);                       // -Inf
    case 2: return FromBits(0x7FC00000u);                       // quiet NaN
    case 3: return FromBits(0x7F800001u);                       // signalling NaN
    case 4: return FromBits(0xFFC00000u | (r.U8() << 8));       // -NaN, payload
    default: return FromBits(0x7F800000u | (r.U32() & 0x7FFFFFu) | 1u);  // NaN, payload
  }
}

// The tie rule of every selection in usmoe: higher value first; equal values
// (and -0.0 == +0.0, which the == below gives for free) -> lower index first.
// Values are never NaN here (NaN inputs are rejected by the library).
inline bool Before(float a, int64_t ia, float b, int64_t ib) {
  if (a > b) return true;
  if (b > a) return false;
  return ia < ib;
}

// Insertion sort of idx[0..n) by Before(v[idx]) — brute force on purpose.
inline void SortByRule(const float* v, std::vector<int64_t>& idx) {
  for (size_t i = 1; i < idx.size(); ++i) {
    const int64_t x = idx[i];
    size_t j = i;
    while (j > 0 && Before(v[x], x, v[idx[j - 1]], idx[j - 1])) {
      idx[j] = idx[j - 1];
      --j;
    }
    idx[j] = x;
  }
}

// Forces one SIMD target (chosen by sel among the supported ones), or the
// default dispatch for sel == 0, so every target gets fuzzed.
inline void PickTarget(uint8_t sel) {
  int64_t supported = 0;
  FUZZ_CHECK(usmoe_simd_supported_targets(&supported) == USMOE_STATUS_SUCCESS);
  FUZZ_CHECK(supported != 0);
  if (sel == 0) {
    FUZZ_CHECK(usmoe_simd_set_targets(0) == USMOE_STATUS_SUCCESS);
    return;
  }
  int bits[64], nb = 0;
  for (int b = 0; b < 64; ++b)
    if (supported & (int64_t{1} << b)) bits[nb++] = b;
  FUZZ_CHECK(usmoe_simd_set_targets(int64_t{1} << bits[sel % nb]) == USMOE_STATUS_SUCCESS);
}

}  // namespace fuzz

#endif  // USMOE_TESTS_FUZZ_FUZZ_COMMON_H_
