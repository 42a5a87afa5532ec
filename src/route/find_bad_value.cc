// The scans behind find_bad_value.h, written once for every Highway target.
// They read every input once before a kernel does, so they must run at
// cache speed: the portable loop (baseline SSE2 build, 4 lanes) took 27 us
// of a 91 us top-2 of 4096×64 call. Bits are tested as integers (exponent
// all ones, and for NaN a non-zero mantissa), which no FP mode can change.
// Chunks are OR-reduced without branches; only a chunk that reports a hit
// is searched for the exact index.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/route/find_bad_value.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cstring>

#include "src/route/find_bad_value.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// kNaN: |bits| > Inf's bits. Otherwise: exponent all ones.
template <bool kNaN, class D>
HWY_INLINE hn::Mask<D> Bad(D d, hn::Vec<D> bits) {
  if (kNaN)
    return hn::Gt(hn::And(bits, hn::Set(d, 0x7FFFFFFF)), hn::Set(d, 0x7F800000));
  return hn::Eq(hn::And(bits, hn::Set(d, 0x7F800000)), hn::Set(d, 0x7F800000));
}

template <bool kNaN>
int64_t FindFirst(const float* HWY_RESTRICT v, int64_t n) {
  const hn::ScalableTag<int32_t> d;
  const hn::CappedTag<int32_t, 1> d1;
  const int32_t* bits = reinterpret_cast<const int32_t*>(v);
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t chunk = 64 * lanes;
  int64_t c0 = 0;
  for (; c0 + chunk <= n; c0 += chunk) {
    auto any0 = hn::Zero(d), any1 = hn::Zero(d);
    for (int64_t i = c0; i < c0 + chunk; i += 2 * lanes) {
      any0 = hn::Or(any0, hn::VecFromMask(d, Bad<kNaN>(d, hn::LoadU(d, bits + i))));
      any1 = hn::Or(any1, hn::VecFromMask(d, Bad<kNaN>(d, hn::LoadU(d, bits + i + lanes))));
    }
    if (hn::AllTrue(d, hn::Eq(hn::Or(any0, any1), hn::Zero(d)))) continue;
    for (int64_t i = c0;; i += lanes) {
      const intptr_t lane = hn::FindFirstTrue(d, Bad<kNaN>(d, hn::LoadU(d, bits + i)));
      if (lane >= 0) return i + lane;
    }
  }
  for (int64_t i = c0; i < n; ++i)
    if (!hn::AllFalse(d1, Bad<kNaN>(d1, hn::LoadU(d1, bits + i)))) return i;
  return -1;
}

int64_t FindFirstNaNT(const float* HWY_RESTRICT v, int64_t n) { return FindFirst<true>(v, n); }
int64_t FindFirstNonFiniteT(const float* HWY_RESTRICT v, int64_t n) {
  return FindFirst<false>(v, n);
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(FindFirstNaNT);
HWY_EXPORT(FindFirstNonFiniteT);

int64_t FindFirstNaN(const float* v, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(FindFirstNaNT)(v, n);
}
int64_t FindFirstNonFinite(const float* v, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(FindFirstNonFiniteT)(v, n);
}
}  // namespace usmoe
#endif  // HWY_ONCE
