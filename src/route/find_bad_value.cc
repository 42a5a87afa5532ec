// The scans behind find_bad_value.h, written once for every Highway target.
// They read every input once before a kernel does, so they must run at
// cache speed: the portable loop (baseline SSE2 build, 4 lanes) took 27 us
// of a 91 us top-2 of 4096×64 call. Bits are tested as integers (exponent
// all ones, and for NaN a non-zero mantissa), which no FP mode can change.
// Chunks are max-reduced without branches; only a chunk that reports a hit
// is searched for the exact index.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/route/find_bad_value.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/route/find_bad_value.h"
#include "src/runtime/threads.h"

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
  // A chunk is clean when the largest magnitude bits (sign cleared, so a
  // signed max orders them like the values) stay below Inf's: two
  // operations a vector, where a per-vector compare took four.
  const auto abs_mask = hn::Set(d, 0x7FFFFFFF);
  // NaN: above Inf's bits; non-finite: above the largest finite's.
  const auto limit = hn::Set(d, kNaN ? 0x7F800000 : 0x7F7FFFFF);
  int64_t c0 = 0;
  for (; c0 + chunk <= n; c0 += chunk) {
    auto m0 = hn::Zero(d), m1 = hn::Zero(d), m2 = hn::Zero(d), m3 = hn::Zero(d);
    for (int64_t i = c0; i < c0 + chunk; i += 4 * lanes) {
      m0 = hn::Max(m0, hn::And(hn::LoadU(d, bits + i), abs_mask));
      m1 = hn::Max(m1, hn::And(hn::LoadU(d, bits + i + lanes), abs_mask));
      m2 = hn::Max(m2, hn::And(hn::LoadU(d, bits + i + 2 * lanes), abs_mask));
      m3 = hn::Max(m3, hn::And(hn::LoadU(d, bits + i + 3 * lanes), abs_mask));
    }
    const auto m = hn::Max(hn::Max(m0, m1), hn::Max(m2, m3));
    if (hn::AllFalse(d, hn::Gt(m, limit))) continue;
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

namespace {

// Large arrays are split over the threads, each scanning its own range; the
// first hit is the lowest range's. Up to 64k values (256 KB, ~4 us), or
// inside a parallel region (routing checks its chunks from its workers), one
// thread scans it all: the region's start-up would cost more than it saves.
int64_t FindFirstSplit(int64_t (*scan)(const float*, int64_t), const float* v, int64_t n) {
  constexpr int64_t kSerialMax = int64_t{1} << 16;
  const int threads = NumThreads();
  if (threads < 2 || n <= kSerialMax || omp_in_parallel()) return scan(v, n);
  const int64_t per = ((n + threads - 1) / threads + 1023) / 1024 * 1024;
  std::vector<int64_t> found(static_cast<size_t>(threads), -1);
#pragma omp parallel for num_threads(threads)
  for (int p = 0; p < threads; ++p) {
    const int64_t lo = std::min(n, p * per), hi = std::min(n, lo + per);
    const int64_t i = hi > lo ? scan(v + lo, hi - lo) : -1;
    found[static_cast<size_t>(p)] = i < 0 ? -1 : lo + i;
  }
  for (int64_t i : found)
    if (i >= 0) return i;
  return -1;
}

}  // namespace

int64_t FindFirstNaN(const float* v, int64_t n) {
  return FindFirstSplit(HWY_DYNAMIC_DISPATCH(FindFirstNaNT), v, n);
}
int64_t FindFirstNonFinite(const float* v, int64_t n) {
  return FindFirstSplit(HWY_DYNAMIC_DISPATCH(FindFirstNonFiniteT), v, n);
}
}  // namespace usmoe
#endif  // HWY_ONCE
