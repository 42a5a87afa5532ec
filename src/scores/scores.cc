// Score kernels, written once for every Highway target.
//
// Accuracy contract: 1e-6 relative to a double-precision reference on every
// cell, tiny probabilities included. Two details make that hold in f32:
//  - x - max is rounded; for x - max ≈ -80 that rounding alone is a 5e-6
//    relative error after exp. We recover the rounding error r exactly
//    (TwoSum) and add it to the reduced argument of our exp (ExpDiff).
//  - row sums use double partials in an order that does not depend on the
//    vector width (see FixedOrderSum); column sums (over up to 32k tokens)
//    use compensated (Neumaier) f32 accumulation, one chain per column.
// Tails (N not a multiple of the vector length) reuse the same code through a
// one-lane tag, so every cell takes the same arithmetic path on every target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/scores/scores.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "src/runtime/threads.h"
#include "src/scores/scores.h"
#include "src/simd/transpose16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// exp(x - m) for x <= m (m is a row or column maximum, so the argument is
// never positive), with the subtraction's rounding error folded back in.
// Our own exp, not hn::Exp: its domain is only (-inf, 0], so it needs no
// overflow handling, and results below 2^-125 (x - m < -86.5, far below
// the 1e-12 absolute floor of the accuracy contract once divided by a row
// sum >= 1) are flushed to zero, so 2^n is applied with one integer add
// instead of two multiplies that keep denormals. 17 operations (and the
// TwoSum's 6) where hn::Exp takes 26; degree-6 polynomial, 1e-7 relative
// error (about 2 ulp). On Zen 5 a vector of 16 takes about 9 cycles.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpDiff(D d, V x, V m) {
  const hn::RebindToSigned<D> di;
  const V nm = hn::Neg(m);
  const V s = hn::Add(x, nm);
  const V xr = hn::Sub(s, nm);
  const V mr = hn::Sub(s, xr);
  const V err = hn::Add(hn::Sub(x, xr), hn::Sub(nm, mr));
  // n = round(s / ln 2): adding 1.5·2^23 leaves n in the low mantissa bits.
  const V shifter = hn::Set(d, 0x1.8p23f);
  const V t = hn::MulAdd(s, hn::Set(d, 0x1.715476p+0f), shifter);
  const V n = hn::Sub(t, shifter);
  // r = s - n·ln 2 + err, |r| <= 0.35: ln 2 in two parts (the first exact
  // times any n here); the second part and the TwoSum error are gathered
  // off the critical path and added once.
  const V r_hi = hn::NegMulAdd(n, hn::Set(d, 0.693145751953125f), s);
  const V r = hn::Add(r_hi, hn::NegMulAdd(n, hn::Set(d, 1.428606765330187045e-6f), err));
  // exp(r) ~ (1 + r) + r²·(c2 + c3·r) + r⁴·(c4 + c5·r + c6·r²): Estrin's
  // split, a chain of 3 multiply-adds where Horner's has 7, for one more
  // operation; the two measured the same here (8.7 and 9.0 cycles a vector).
  const V r2 = hn::Mul(r, r);
  const V r4 = hn::Mul(r2, r2);
  const V a = hn::MulAdd(hn::Set(d, 0x1.5553f0p-3f), r, hn::Set(d, 0x1.fffffcp-2f));
  const V b = hn::MulAdd(hn::Set(d, 0x1.127a94p-7f), r, hn::Set(d, 0x1.5557bcp-5f));
  const V b2 = hn::MulAdd(hn::Set(d, 0x1.6b4798p-10f), r2, b);
  const V e = hn::MulAdd(r2, a, hn::Add(r, hn::Set(d, 1.0f)));
  const V p = hn::MulAdd(r4, b2, e);
  // p·2^n: n (two's complement in t's low bits) shifted into the exponent.
  const auto scaled = hn::Add(hn::BitCast(di, p), hn::ShiftLeft<23>(hn::BitCast(di, t)));
  // Also catches s = -inf (x and m finite but more than FLT_MAX apart),
  // where n and err are not numbers.
  return hn::IfThenZeroElse(hn::Lt(s, hn::Set(d, -86.5f)), hn::BitCast(d, scaled));
}

// Stable logistic: e = exp(-|x|) never overflows.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Sigmoid(D d, V x) {
  const V one = hn::Set(d, 1.0f);
  const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
  const V inv = hn::Div(one, hn::Add(one, e));
  return hn::IfThenElse(hn::Ge(x, hn::Zero(d)), inv, hn::Mul(e, inv));
}

// Neumaier step on vectors: (sum, comp) += v.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void CompensatedAdd(D /*d*/, V v, V& sum, V& comp) {
  const V t = hn::Add(sum, v);
  const V big_sum = hn::Add(hn::Sub(sum, t), v);
  const V big_v = hn::Add(hn::Sub(v, t), sum);
  comp = hn::Add(comp, hn::IfThenElse(hn::Ge(hn::Abs(sum), hn::Abs(v)), big_sum, big_v));
  sum = t;
}

// The fold of FixedOrderSum, on its 16 partials.
HWY_INLINE double FoldPartials(const double* sum) {
  double a[8], b[4];
  for (int j = 0; j < 8; ++j) a[j] = sum[j] + sum[j + 8];
  for (int j = 0; j < 4; ++j) b[j] = a[j] + a[j + 4];
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// Σ v[i] in an order fixed by i alone: 16 partial sums (i mod 16), folded
// in a fixed order; within each run of 32, v[i] + v[i+16] is added in f32
// first (one rounding, 6e-8 relative: the sum then costs half the
// conversions to double, which were a fifth of the softmax's time on Zen 5;
// the exponentials are in [0, 1], so no cancellation). Plain C++ on
// purpose: each partial is one
// sequential chain, so the bits are the same whatever vector width the
// compiler or the dispatched target uses, and the softmax denominator (hence
// U, hence near-tie selections) does not depend on the SIMD target.
HWY_INLINE double FixedOrderSum(const float* HWY_RESTRICT v, int64_t n) {
  // Double partials: exact enough for any row length, and a plain
  // elementwise loop the compiler vectorises.
  double sum[16] = {0};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 16; ++j) sum[j] += static_cast<double>(v[i + j] + v[i + 16 + j]);
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) sum[j] += static_cast<double>(v[i + j]);
  for (int j = 0; i < n; ++i, ++j) sum[j] += static_cast<double>(v[i]);
  return FoldPartials(sum);
}

// sigmoid(x) from p = exp(x - m) and q = exp(-m): p / (p + q), as accurate
// as the direct form while p and q are normal floats; |m| < 60 (reuse) and
// p >= 2^-80 ensure that, and other lanes take the direct form. The choice is
// made per lane, so a cell's bits never depend on its vector neighbours (or
// on the vector width).
// SigmoidPick: p / (p + q) in the lanes of ok, the direct form elsewhere.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V SigmoidPick(D d, V p, V x, V q, hn::Mask<D> ok) {
  const V s = hn::Div(p, hn::Add(p, q));
  if (HWY_LIKELY(hn::AllTrue(d, ok))) return s;
  return hn::IfThenElse(ok, s, Sigmoid(d, x));
}
template <class D, class V = hn::Vec<D>>
HWY_INLINE hn::Mask<D> ExpNormal(D d, V p) {  // p >= 2^-80
  return hn::Ge(p, hn::Set(d, 0x1p-80f));
}
// One row's form: m, hence q and reuse, shared by every lane.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V SigmoidFromExp(D d, V p, V x, float q, bool reuse) {
  if (!reuse) return Sigmoid(d, x);
  return SigmoidPick(d, p, x, hn::Set(d, q), ExpNormal(d, p));
}

// Row tails (N not a multiple of the vector) as one masked vector instead
// of lane by lane (23 operations per cell, 2.8 ns/cell at N = 24): only on
// AVX-512, whose masked loads never touch the dead lanes' memory (Highway
// emulates MaskedLoad with a full load on some targets). Same element-wise
// arithmetic, so the same bits.
template <class D>
constexpr bool kMaskedTail =
    (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) && hn::MaxLanes(D()) == 16;

// One row: U = (1-α)·softmax(row) + α·sigmoid(row)·2/N (sigmoid term only if
// with_sigmoid), in three steps: the row maximum, the exponentials (parked
// in u) and their sum, then the scaling. ScoreRowsT runs each step over a
// few rows before the next: a row of 64 is a short chain of dependent
// reductions (max, sum, fold, division), and rows in step let those chains
// overlap instead of waiting one after another.
template <class D>
float RowMax(D d, const float* HWY_RESTRICT x, int64_t n) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n_main = n - n % lanes;
  float mx = x[0];
  if (n_main > 0) {
    auto vmax = hn::LoadU(d, x);
    for (int64_t i = lanes; i < n_main; i += lanes) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    mx = std::max(mx, hn::GetLane(hn::MaxOfLanes(d, vmax)));
  }
  if (kMaskedTail<D> && n_main < n && n_main > 0) {
    const auto live = hn::FirstN(d, static_cast<size_t>(n - n_main));
    const auto t = hn::IfThenElse(live, hn::MaskedLoad(live, d, x + n_main), hn::Set(d, mx));
    return std::max(mx, hn::GetLane(hn::MaxOfLanes(d, t)));
  }
  for (int64_t i = n_main; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

template <class D>
double RowExp(D d, const float* HWY_RESTRICT x, int64_t n, float mx, float* HWY_RESTRICT u) {
  const hn::CappedTag<float, 1> d1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n_main = n - n % lanes;
  const auto vm = hn::Set(d, mx);
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if constexpr (hn::MaxLanes(D()) == 16) {
    // A vector is exactly one round of FixedOrderSum's 16 partials (two
    // vectors added in f32, one run of 32): its lower and upper halves,
    // widened, add to partials 0-7 and 8-15 in the same order, so the sum is
    // accumulated while the exponentials are still in registers (bitwise
    // the sum the plain loop computes).
    const hn::Full512<double> dd;
    const hn::Full256<float> dh;
    auto lo = hn::Zero(dd), hi = hn::Zero(dd);
    const auto add = [&](hn::Vec<D> p) {  // p's halves into partials 0-7, 8-15
      lo = hn::Add(lo, hn::PromoteTo(dd, hn::LowerHalf(dh, p)));
      hi = hn::Add(hi, hn::PromoteTo(dd, hn::UpperHalf(dh, p)));
    };
    int64_t i = 0;
    for (; i + 2 * lanes <= n_main; i += 2 * lanes) {
      const auto p0 = ExpDiff(d, hn::LoadU(d, x + i), vm);
      const auto p1 = ExpDiff(d, hn::LoadU(d, x + i + lanes), vm);
      hn::StoreU(p0, d, u + i);
      hn::StoreU(p1, d, u + i + lanes);
      add(hn::Add(p0, p1));
    }
    if (i < n_main) {
      const auto p = ExpDiff(d, hn::LoadU(d, x + i), vm);
      hn::StoreU(p, d, u + i);
      add(p);
    }
    if (n_main < n) {  // the tail: one masked vector, dead lanes adding 0
      const auto live = hn::FirstN(d, static_cast<size_t>(n - n_main));
      const auto p =
          hn::IfThenElseZero(live, ExpDiff(d, hn::MaskedLoad(live, d, x + n_main), vm));
      hn::BlendedStore(p, live, d, u + n_main);
      add(p);
    }
    // FoldPartials on vectors: a = lo + hi, then halves, then quarters.
    const hn::Full256<double> d4;
    const hn::Full128<double> d2;
    const auto a = hn::Add(lo, hi);
    const auto b = hn::Add(hn::LowerHalf(d4, a), hn::UpperHalf(d4, a));
    const auto c = hn::Add(hn::LowerHalf(d2, b), hn::UpperHalf(d2, b));
    return hn::GetLane(c) + hn::GetLane(hn::Shuffle01(c));
  }
#endif
  for (int64_t i = 0; i < n_main; i += lanes)
    hn::StoreU(ExpDiff(d, hn::LoadU(d, x + i), vm), d, u + i);
  for (int64_t i = n_main; i < n; ++i)
    u[i] = hn::GetLane(ExpDiff(d1, hn::Set(d1, x[i]), hn::Set(d1, mx)));
  return FixedOrderSum(u, n);
}

template <class D>
void RowFinish(D d, const float* HWY_RESTRICT x, int64_t n, float alpha, bool with_sigmoid,
               float mx, double total, float* HWY_RESTRICT u) {
  const hn::CappedTag<float, 1> d1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n_main = n - n % lanes;
  const float ft_scale = static_cast<float>((1.0 - alpha) / total);
  const float fe_scale = alpha * (2.0f / static_cast<float>(n));
  const auto vft = hn::Set(d, ft_scale);
  if (!with_sigmoid || alpha == 0.0f) {
    for (int64_t i = 0; i < n_main; i += lanes)
      hn::StoreU(hn::Mul(hn::LoadU(d, u + i), vft), d, u + i);
    if (kMaskedTail<D> && n_main < n) {
      const auto live = hn::FirstN(d, static_cast<size_t>(n - n_main));
      hn::BlendedStore(hn::Mul(hn::MaskedLoad(live, d, u + n_main), vft), live, d, u + n_main);
      return;
    }
    for (int64_t i = n_main; i < n; ++i) u[i] *= ft_scale;
    return;
  }
  const auto vfe = hn::Set(d, fe_scale);
  // sigmoid(x) = p / (p + q) with p = exp(x - m), already in u, and
  // q = exp(-m): a division instead of a second exponential.
  const float q = hn::GetLane(hn::Exp(d1, hn::Set(d1, -mx)));
  const bool reuse = mx > -60.0f && mx < 60.0f;
  for (int64_t i = 0; i < n_main; i += lanes) {
    const auto p = hn::LoadU(d, u + i);
    const auto s = SigmoidFromExp(d, p, hn::LoadU(d, x + i), q, reuse);
    hn::StoreU(hn::MulAdd(p, vft, hn::Mul(s, vfe)), d, u + i);
  }
  if (kMaskedTail<D> && n_main < n) {
    // Dead lanes get p = 1, x = 0 (no direct-form fallback) and are not stored.
    const auto live = hn::FirstN(d, static_cast<size_t>(n - n_main));
    const auto p = hn::IfThenElse(live, hn::MaskedLoad(live, d, u + n_main), hn::Set(d, 1.0f));
    const auto s = SigmoidFromExp(d, p, hn::MaskedLoad(live, d, x + n_main), q, reuse);
    hn::BlendedStore(hn::MulAdd(p, vft, hn::Mul(s, vfe)), live, d, u + n_main);
    return;
  }
  for (int64_t i = n_main; i < n; ++i) {
    const auto p = hn::Set(d1, u[i]);
    const auto s = SigmoidFromExp(d1, p, hn::Set(d1, x[i]), q, reuse);
    u[i] = hn::GetLane(hn::MulAdd(p, hn::Set(d1, ft_scale), hn::Mul(s, hn::Set(d1, fe_scale))));
  }
}

template <class D>
void ScoreRowsT(D d, const float* HWY_RESTRICT x, int64_t rows, int64_t n, float alpha,
                bool with_sigmoid, float* HWY_RESTRICT u) {
  constexpr int64_t kStep = 4;
  float mx[kStep];
  double total[kStep];
  for (int64_t r0 = 0; r0 < rows; r0 += kStep) {
    const int64_t m = std::min(kStep, rows - r0);
    const float* xr = x + r0 * n;
    float* ur = u + r0 * n;
    for (int64_t r = 0; r < m; ++r) mx[r] = RowMax(d, xr + r * n, n);
    for (int64_t r = 0; r < m; ++r) total[r] = RowExp(d, xr + r * n, n, mx[r], ur + r * n);
    for (int64_t r = 0; r < m; ++r)
      RowFinish(d, xr + r * n, n, alpha, with_sigmoid, mx[r], total[r], ur + r * n);
  }
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// Rows of at most 16 experts, 16 rows at a time: a row is then one vector
// or less, and the per-row steps (horizontal max, sum fold, division) cost
// about 70 cycles a row, 23x the time to copy it at N = 8. Transposed, a
// vector holds one expert of 16 rows, and every step is element-wise across
// rows. The arithmetic is the row path's, cell by cell (the row path's
// partial sums are one exponential each at n <= 16), so the bits are too.
// n <= kMax: loops of fixed length keep p[] in registers. kPairs (n = 8):
// 16 rows are 8 whole vectors of two rows each, transposed as two 8x8
// halves (the lanes then hold rows 0, 2, .., 14 and 1, 3, .., 15: every
// step is element-wise, so the order does not matter).
template <int kMax, bool kPairs>
void ScoreRowsNarrowT(const float* HWY_RESTRICT x, int64_t rows, int64_t n, float alpha,
                      bool with_sigmoid, float* HWY_RESTRICT u) {
  const hn::Full512<float> d;
  const hn::Full512<int32_t> di;
  const hn::Full512<double> dd;
  const hn::Full256<float> dh;
  using VI = hn::Vec<decltype(di)>;
  using V = hn::Vec<decltype(d)>;
  const auto live = hn::FirstN(d, static_cast<size_t>(n));
  const bool sigmoid = with_sigmoid && alpha != 0.0f;
  const auto one_minus_alpha = hn::Set(dd, 1.0 - static_cast<double>(alpha));
  const V vfe = hn::Set(d, alpha * (2.0f / static_cast<float>(n)));
  for (int64_t r0 = 0; r0 + 16 <= rows; r0 += 16) {
    VI t[16];
    if (kPairs) {
      for (int k = 0; k < 8; ++k) t[k] = hn::BitCast(di, hn::LoadU(d, x + r0 * 8 + 16 * k));
      Transpose8x8Halves(t);  // t[j]: expert j of the 16 rows
    } else {
      for (int i = 0; i < 16; ++i)
        t[i] = hn::BitCast(di, hn::MaskedLoad(live, d, x + (r0 + i) * n));
      Transpose16x16(t);  // t[j]: expert j of the 16 rows (zero for j >= n)
    }
    V mx = hn::BitCast(d, t[0]);
    HWY_UNROLL(16)
    for (int j = 1; j < kMax; ++j)
      if (j < n) mx = hn::Max(mx, hn::BitCast(d, t[j]));
    V p[kMax];
    HWY_UNROLL(16)
    for (int j = 0; j < kMax; ++j) p[j] = ExpDiff(d, hn::BitCast(d, t[j]), mx);
    // FoldPartials per row, partial j being p[j] (zero from n on), in
    // double for rows 0-7 (lower halves) and 8-15 (upper halves).
    hn::Vec<decltype(dd)> a_lo[8], a_hi[8];
    HWY_UNROLL(8)
    for (int j = 0; j < 8; ++j) {
      a_lo[j] = a_hi[j] = hn::Zero(dd);
      if (j < n) {
        a_lo[j] = hn::PromoteTo(dd, hn::LowerHalf(dh, p[j]));
        a_hi[j] = hn::PromoteTo(dd, hn::UpperHalf(dh, p[j]));
      }
      if (j + 8 < kMax && j + 8 < n) {
        a_lo[j] = hn::Add(a_lo[j], hn::PromoteTo(dd, hn::LowerHalf(dh, p[(j + 8) % kMax])));
        a_hi[j] = hn::Add(a_hi[j], hn::PromoteTo(dd, hn::UpperHalf(dh, p[(j + 8) % kMax])));
      }
    }
    HWY_UNROLL(4)
    for (int j = 0; j < 4; ++j) {
      a_lo[j] = hn::Add(a_lo[j], a_lo[j + 4]);
      a_hi[j] = hn::Add(a_hi[j], a_hi[j + 4]);
    }
    const auto tot_lo = hn::Add(hn::Add(a_lo[0], a_lo[2]), hn::Add(a_lo[1], a_lo[3]));
    const auto tot_hi = hn::Add(hn::Add(a_hi[0], a_hi[2]), hn::Add(a_hi[1], a_hi[3]));
    const V ft = hn::Combine(d, hn::DemoteTo(dh, hn::Div(one_minus_alpha, tot_hi)),
                             hn::DemoteTo(dh, hn::Div(one_minus_alpha, tot_lo)));
    if (!sigmoid) {
      HWY_UNROLL(16)
      for (int j = 0; j < kMax; ++j) t[j] = hn::BitCast(di, hn::Mul(p[j], ft));
    } else {
      // SigmoidFromExp with each lane's (row's) own m, q and reuse.
      const V q = hn::Exp(d, hn::Neg(mx));
      const auto reuse = hn::And(hn::Gt(mx, hn::Set(d, -60.0f)), hn::Lt(mx, hn::Set(d, 60.0f)));
      HWY_UNROLL(16)
      for (int j = 0; j < kMax; ++j) {
        const V sj = SigmoidPick(d, p[j], hn::BitCast(d, t[j]), q,
                                 hn::And(reuse, ExpNormal(d, p[j])));
        t[j] = hn::BitCast(di, hn::MulAdd(p[j], ft, hn::Mul(sj, vfe)));
      }
    }
    if (kPairs) {
      Transpose8x8Halves(t);
      for (int k = 0; k < 8; ++k) hn::StoreU(hn::BitCast(d, t[k]), d, u + r0 * 8 + 16 * k);
    } else {
      // Lanes past n hold garbage the store below leaves out.
      Transpose16x16(t);
      for (int i = 0; i < 16; ++i)
        hn::BlendedStore(hn::BitCast(d, t[i]), live, d, u + (r0 + i) * n);
    }
  }
}

void ScoreRowsNarrow(const float* HWY_RESTRICT x, int64_t rows, int64_t n, float alpha,
                     bool with_sigmoid, float* HWY_RESTRICT u) {
  if (n == 8) return ScoreRowsNarrowT<8, true>(x, rows, n, alpha, with_sigmoid, u);
  if (n < 8) return ScoreRowsNarrowT<8, false>(x, rows, n, alpha, with_sigmoid, u);
  ScoreRowsNarrowT<16, false>(x, rows, n, alpha, with_sigmoid, u);
}
#endif

// Rows shorter than a full vector (N = 8 under AVX-512) would otherwise go
// through the one-lane tail; a narrower tag keeps them vectorised. Every
// cell takes the same element-wise arithmetic whatever the tag.
void ScoreRows(const float* HWY_RESTRICT x, int64_t rows, int64_t n, float alpha,
               bool with_sigmoid, float* HWY_RESTRICT u) {
  const hn::ScalableTag<float> d;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if (n <= 16 && rows >= 16) {
    ScoreRowsNarrow(x, rows, n, alpha, with_sigmoid, u);
    const int64_t done = rows - rows % 16;
    if (done == rows) return;
    x += done * n;
    u += done * n;
    rows -= done;
  }
#endif
  if (n >= static_cast<int64_t>(hn::Lanes(d)))
    return ScoreRowsT(d, x, rows, n, alpha, with_sigmoid, u);
  const hn::CappedTag<float, 8> d8;
  if (n >= static_cast<int64_t>(hn::Lanes(d8)))
    return ScoreRowsT(d8, x, rows, n, alpha, with_sigmoid, u);
  const hn::CappedTag<float, 4> d4;
  if (n >= static_cast<int64_t>(hn::Lanes(d4)))
    return ScoreRowsT(d4, x, rows, n, alpha, with_sigmoid, u);
  ScoreRowsT(hn::CappedTag<float, 1>(), x, rows, n, alpha, with_sigmoid, u);
}

// α·softmax over the valid rows of one group, per column, added to U.
// Column statistics are kept per expert and updated a row (vector) at a time,
// so L is read in its natural layout: three streaming passes.
template <class D>
void SoftmaxTokensColumns(D d, const float* HWY_RESTRICT L, int64_t rows, int64_t n,
                          int64_t col0, const uint8_t* valid, float alpha,
                          float* HWY_RESTRICT U) {
  using V = hn::Vec<D>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  V mx = hn::Set(d, -HUGE_VALF);
  bool any = false;
  for (int64_t r = 0; r < rows; ++r) {
    if (valid && !valid[r]) continue;
    mx = hn::Max(mx, hn::LoadU(d, L + r * n + col0));
    any = true;
  }
  if (!any) return;
  V sum = hn::Zero(d), comp = hn::Zero(d);
  for (int64_t r = 0; r < rows; ++r) {
    if (valid && !valid[r]) continue;
    CompensatedAdd(d, ExpDiff(d, hn::LoadU(d, L + r * n + col0), mx), sum, comp);
  }
  const V scale = hn::Div(hn::Set(d, alpha), hn::Add(sum, comp));
  for (int64_t r = 0; r < rows; ++r) {
    if (valid && !valid[r]) continue;
    const V p = ExpDiff(d, hn::LoadU(d, L + r * n + col0), mx);
    float* u = U + r * n + col0;
    hn::StoreU(hn::MulAdd(p, scale, hn::LoadU(d, u)), d, u);
  }
  (void)lanes;
}

// Serial: the caller owns the threads (the fused gate GEMM calls this on
// chunks it has just computed).
void ComputeRowScores(const float* HWY_RESTRICT L, int64_t T, int64_t N, float alpha,
                      bool softmax_tokens, float* HWY_RESTRICT U) {
  ScoreRows(L, T, N, alpha, !softmax_tokens, U);
}

void AddTokenSoftmax(const float* HWY_RESTRICT L, int64_t T, int64_t N, float alpha,
                     const int64_t* group_offsets, int64_t G, const uint8_t* valid,
                     float* HWY_RESTRICT U) {
  if (alpha == 0.0f) return;
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n_main = N - N % lanes;
  const int64_t col_blocks = n_main / lanes + (N - n_main);
  const int64_t work = G * col_blocks;
  ParallelFor(SplitThreads(T * N > (1 << 15)), work, true, [&](int64_t w, int) HWY_ATTR {
    const int64_t g = w / col_blocks, b = w % col_blocks;
    const int64_t r0 = group_offsets[g], rows = group_offsets[g + 1] - r0;
    if (rows == 0) return;
    const uint8_t* vg = valid ? valid + r0 : nullptr;
    if (b < n_main / lanes) {
      SoftmaxTokensColumns(d, L + r0 * N, rows, N, b * lanes, vg, alpha, U + r0 * N);
    } else {
      SoftmaxTokensColumns(d1, L + r0 * N, rows, N, n_main + (b - n_main / lanes), vg, alpha,
                           U + r0 * N);
    }
  });
}

void ComputeScores(const float* HWY_RESTRICT L, int64_t T, int64_t N, float alpha,
                   bool softmax_tokens, const int64_t* group_offsets, int64_t G,
                   const uint8_t* valid, float* HWY_RESTRICT U) {
  const bool with_sigmoid = !softmax_tokens;
  // Static blocks of 64 rows (whole steps of ScoreRowsT and of the narrow
  // path), dealt evenly. From 16k cells (~8 us on one core) two threads
  // pay for their start: 512x64 and 4096x8 on 2 threads, 16-23 -> 12-18 us.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (T + kBlock - 1) / kBlock;
  ParallelFor(SplitThreads(T * N >= (1 << 14)), blocks, false, [&](int64_t b, int) HWY_ATTR {
    const int64_t t0 = b * kBlock, rows = std::min(kBlock, T - t0);
    ScoreRows(L + t0 * N, rows, N, alpha, with_sigmoid, U + t0 * N);
  });
  if (softmax_tokens) AddTokenSoftmax(L, T, N, alpha, group_offsets, G, valid, U);
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(ComputeScores);
HWY_EXPORT(ComputeRowScores);
HWY_EXPORT(AddTokenSoftmax);

void ComputeScores(const float* logits, int64_t num_tokens, int64_t num_experts,
                   float alpha, bool softmax_tokens, const int64_t* group_offsets,
                   int64_t num_groups, const uint8_t* valid, float* scores) {
  HWY_DYNAMIC_DISPATCH(ComputeScores)(logits, num_tokens, num_experts, alpha,
                                      softmax_tokens, group_offsets, num_groups, valid,
                                      scores);
}

void ComputeRowScores(const float* logits, int64_t num_tokens, int64_t num_experts,
                      float alpha, bool softmax_tokens, float* scores) {
  HWY_DYNAMIC_DISPATCH(ComputeRowScores)(logits, num_tokens, num_experts, alpha,
                                         softmax_tokens, scores);
}

void AddTokenSoftmax(const float* logits, int64_t num_tokens, int64_t num_experts,
                     float alpha, const int64_t* group_offsets, int64_t num_groups,
                     const uint8_t* valid, float* scores) {
  HWY_DYNAMIC_DISPATCH(AddTokenSoftmax)(logits, num_tokens, num_experts, alpha,
                                        group_offsets, num_groups, valid, scores);
}
}  // namespace usmoe
#endif  // HWY_ONCE
