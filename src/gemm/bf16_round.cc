// F32ToBf16Rne, written once for every Highway target.
//
// RNE on the bit pattern u: adding 0x7FFF plus the lowest kept bit rounds
// the 16 dropped bits to nearest with ties to even, and a carry out of the
// significand correctly bumps the exponent (the largest finite f32s become
// Inf). Only NaN needs care: a payload held in the low 16 bits alone would
// round to Inf (or wrap past 0xFFFFFFFF), so NaNs take their truncated top
// half with the quiet bit set instead.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/gemm/bf16_round.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cstring>

#include "src/gemm/bf16_round.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE uint16_t RneOne(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

void F32ToBf16Rne(const float* HWY_RESTRICT in, int64_t n, uint16_t* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(df)> d16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto bias = hn::Set(du, 0x7FFFu);
  const auto one = hn::Set(du, 1u);
  const auto quiet = hn::Set(du, 0x0040u);
  const auto abs_mask = hn::Set(du, 0x7FFFFFFFu);
  const auto inf = hn::Set(di, 0x7F800000);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto f = hn::LoadU(df, in + i);
    const auto u = hn::BitCast(du, f);
    const auto top = hn::ShiftRight<16>(u);
    const auto rounded = hn::ShiftRight<16>(hn::Add(u, hn::Add(bias, hn::And(top, one))));
    // NaN test on the integer magnitude (as i32: both sides are positive);
    // Highway's float != is an ordered compare and says false for NaN.
    const auto mag = hn::BitCast(di, hn::And(u, abs_mask));
    const auto nan = hn::RebindMask(du, hn::Gt(mag, inf));
    const auto r = hn::IfThenElse(nan, hn::Or(top, quiet), rounded);
    // Every lane is ≤ 0xFFFF, so the saturating i32 -> u16 demotion is exact.
    hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, r)), d16, out + i);
  }
  for (; i < n; ++i) out[i] = RneOne(in[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(F32ToBf16Rne);

void F32ToBf16Rne(const float* in, int64_t n, uint16_t* out) {
  HWY_DYNAMIC_DISPATCH(F32ToBf16Rne)(in, n, out);
}
}  // namespace usmoe
#endif  // HWY_ONCE
