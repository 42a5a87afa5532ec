// FFN activation epilogues and bf16 rounding, written once for every
// Highway target.
//
// SwiGLU uses silu(a) = a·σ(a) with σ from e = exp(-|a|) ∈ (0, 1]:
// σ(a) = 1/(1+e) for a ≥ 0 and e/(1+e) otherwise, so exp never overflows
// (Highway's Exp is valid only up to +104). GELU-tanh uses Highway's Tanh;
// GELU-erf has no Highway erf in 1.0.3 and stays scalar (std::erf).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/exec/experts_activation.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "src/exec/experts_activation.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using V = hn::Vec<DF>;

HWY_INLINE V Silu(DF d, V a) {
  const V one = hn::Set(d, 1.0f);
  const V e = hn::Exp(d, hn::Neg(hn::Abs(a)));
  const V num = hn::IfThenElse(hn::Ge(a, hn::Zero(d)), one, e);
  return hn::Mul(a, hn::Div(num, hn::Add(one, e)));
}

HWY_INLINE V GeluTanh(DF d, V a) {
  const V a3 = hn::Mul(hn::Mul(a, a), a);
  const V u = hn::Mul(hn::Set(d, 0.7978845608028654f), hn::MulAdd(hn::Set(d, 0.044715f), a3, a));
  return hn::Mul(hn::Mul(hn::Set(d, 0.5f), a), hn::Add(hn::Set(d, 1.0f), hn::Tanh(d, u)));
}

HWY_INLINE V Act(DF d, Activation act, V a, V b) {
  switch (act) {
    case Activation::kSwiGLU: return hn::Mul(Silu(d, a), b);
    case Activation::kGeluTanh: return GeluTanh(d, a);
    case Activation::kReLU: return hn::Max(a, hn::Zero(d));
    default: return a;  // kGeluErf: handled in scalar code
  }
}

// RNE on the f32 bit pattern (see RoundBf16), lanes of u32 in, low 16 bits out.
HWY_INLINE hn::Vec<DU> RoundBits(DF d, V v) {
  const DU du;
  const auto b = hn::BitCast(du, v);
  const auto nan = hn::Gt(hn::And(b, hn::Set(du, 0x7fffffffu)), hn::Set(du, 0x7f800000u));
  const auto odd = hn::And(hn::ShiftRight<16>(b), hn::Set(du, 1u));
  const auto rounded = hn::ShiftRight<16>(hn::Add(b, hn::Add(hn::Set(du, 0x7fffu), odd)));
  const auto quiet = hn::Or(hn::ShiftRight<16>(b), hn::Set(du, 0x0040u));
  (void)d;
  return hn::IfThenElse(nan, quiet, rounded);
}

HWY_INLINE void StoreOut(DF d, V v, float* out) { hn::StoreU(v, d, out); }
HWY_INLINE void StoreOut(DF d, V v, uint16_t* out) {
  const DU du;
  HWY_ALIGN uint32_t bits[hn::MaxLanes(du)];
  hn::Store(RoundBits(d, v), du, bits);
  for (size_t i = 0; i < hn::Lanes(du); ++i) out[i] = static_cast<uint16_t>(bits[i]);
}

template <typename TO>
void Activate(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
              int64_t cols, TO* h, int64_t ldh) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  HWY_ALIGN float ta[hn::MaxLanes(d)], tb[hn::MaxLanes(d)];
  HWY_ALIGN TO th[hn::MaxLanes(d)];
  const bool gated = act == Activation::kSwiGLU;
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * lda;
    const float* br = gated ? b + r * lda : ar;
    TO* hr = h + r * ldh;
    if (act == Activation::kGeluErf) {
      // Scalar, rounded through the same vector store for bf16 outputs.
      for (int64_t j = 0; j < cols; j += N) {
        const int64_t n = std::min(N, cols - j);
        for (int64_t i = 0; i < N; ++i) {
          const float x = i < n ? ar[j + i] : 0.0f;
          ta[i] = 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
        }
        StoreOut(d, hn::Load(d, ta), th);
        std::memcpy(hr + j, th, n * sizeof(TO));
      }
      continue;
    }
    int64_t j = 0;
    for (; j + N <= cols; j += N) StoreOut(d, Act(d, act, hn::LoadU(d, ar + j), hn::LoadU(d, br + j)), hr + j);
    if (j < cols) {
      const int64_t n = cols - j;
      for (int64_t i = 0; i < N; ++i) {
        ta[i] = i < n ? ar[j + i] : 0.0f;
        tb[i] = i < n ? br[j + i] : 0.0f;
      }
      StoreOut(d, Act(d, act, hn::Load(d, ta), hn::Load(d, tb)), th);
      std::memcpy(hr + j, th, n * sizeof(TO));
    }
  }
}

void ActivateF32(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
                 int64_t cols, float* h, int64_t ldh) {
  Activate(act, a, b, lda, rows, cols, h, ldh);
}
void ActivateBf16(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
                  int64_t cols, uint16_t* h, int64_t ldh) {
  Activate(act, a, b, lda, rows, cols, h, ldh);
}

void RoundToBf16(const float* HWY_RESTRICT in, int64_t n, uint16_t* HWY_RESTRICT out) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) StoreOut(d, hn::LoadU(d, in + i), out + i);
  for (; i < n; ++i) out[i] = RoundBf16(in[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(ActivateF32);
HWY_EXPORT(ActivateBf16);
HWY_EXPORT(RoundToBf16);

void ActivateF32(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
                 int64_t cols, float* h, int64_t ldh) {
  HWY_DYNAMIC_DISPATCH(ActivateF32)(act, a, b, lda, rows, cols, h, ldh);
}
void ActivateBf16(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
                  int64_t cols, uint16_t* h, int64_t ldh) {
  HWY_DYNAMIC_DISPATCH(ActivateBf16)(act, a, b, lda, rows, cols, h, ldh);
}
void RoundToBf16(const float* in, int64_t n, uint16_t* out) {
  HWY_DYNAMIC_DISPATCH(RoundToBf16)(in, n, out);
}
}  // namespace usmoe
#endif  // HWY_ONCE
