// Exact top-c threshold of a short array: one pass bins every value
// linearly between the array's min and max, a prefix count from the top
// finds the bin holding the c-th largest, and only that bin's members go
// through an exact select.
//
// Why: an expert's column (EC) holds a few thousand cells, too few to
// amortise the sampled bracketing of topc_global.cc, whose two nth_element
// calls on the sample and one on the candidates cost about 10 us per
// 4096-cell column on Zen 5, against about 2 us for this pass. Exactness
// does not depend on the binning: each step of bin(v) = min(top, floor((v -
// min)·scale)) is monotone, so bin(a) > bin(b) implies a > b, every value
// equal to the threshold lies in one bin, and that bin is selected exactly.
// A bad distribution only makes the bin larger, never the answer wrong.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/select/topc_binned.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "src/select/select_keys.h"
#include "src/select/topc_binned.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void MinMax(const float* HWY_RESTRICT v, int64_t n, float* mn, float* mx) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  auto vmin = hn::Set(d, HUGE_VALF), vmax = hn::Set(d, -HUGE_VALF);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = hn::LoadU(d, v + i);
    vmin = hn::Min(vmin, x);
    vmax = hn::Max(vmax, x);
  }
  float lo = hn::GetLane(hn::MinOfLanes(d, vmin)), hi = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < n; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  *mn = lo;
  *mx = hi;
}

// bins[i] = min(top, trunc((v[i] - lo) · scale)); v[i] - lo >= 0, so the
// truncation is a floor, and the caller keeps the product within int32.
void ComputeBins(const float* HWY_RESTRICT v, int64_t n, float lo, float scale, int32_t top,
                 int32_t* HWY_RESTRICT bins) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vlo = hn::Set(d, lo), vscale = hn::Set(d, scale);
  const auto vtop = hn::Set(di, top);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = hn::Mul(hn::Sub(hn::LoadU(d, v + i), vlo), vscale);
    hn::StoreU(hn::Min(hn::ConvertTo(di, x), vtop), di, bins + i);
  }
  for (; i < n; ++i)
    bins[i] = std::min(top, static_cast<int32_t>((v[i] - lo) * scale));
}

// The values whose bin is b, in order; returns how many.
int64_t CollectBin(const float* HWY_RESTRICT v, const int32_t* HWY_RESTRICT bins, int64_t n,
                   int32_t b, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vb = hn::Set(di, b);
  int64_t m = 0, i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto in = hn::RebindMask(d, hn::Eq(hn::LoadU(di, bins + i), vb));
    if (hn::AllFalse(d, in)) continue;
    hn::StoreU(hn::Compress(hn::LoadU(d, v + i), in), d, out + m);
    m += static_cast<int64_t>(hn::CountTrue(d, in));
  }
  for (; i < n; ++i)
    if (bins[i] == b) out[m++] = v[i];
  return m;
}

// How many of v[0..n) are >= cut. Counted in vector lanes (a lane adds 1
// as its all-ones mask is subtracted), two accumulators: a mask count per
// vector (mask to integer register, popcount, add) cost 1.6 cycles a vector.
int64_t CountAtLeast(const float* HWY_RESTRICT v, int64_t n, float cut) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, cut);
  // Lanes count at most n / lanes each, far below int32's range for any
  // column here; longer inputs go by blocks so no lane can overflow.
  constexpr int64_t kBlock = int64_t{1} << 30;
  int64_t m = 0, i = 0;
  while (i + 2 * lanes <= n) {
    const int64_t end = std::min(n, i + kBlock);
    auto c0 = hn::Zero(di), c1 = hn::Zero(di);
    for (; i + 2 * lanes <= end; i += 2 * lanes) {
      c0 = hn::Sub(c0, hn::BitCast(di, hn::VecFromMask(d, hn::Ge(hn::LoadU(d, v + i), vc))));
      c1 = hn::Sub(c1, hn::BitCast(
                           di, hn::VecFromMask(d, hn::Ge(hn::LoadU(d, v + i + lanes), vc))));
    }
    m += static_cast<int64_t>(hn::GetLane(hn::SumOfLanes(di, hn::Add(c0, c1))));
  }
  for (; i < n; ++i) m += v[i] >= cut;
  return m;
}

// The values >= cut, in order; returns how many.
int64_t CollectAtLeast(const float* HWY_RESTRICT v, int64_t n, float cut,
                       float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, cut);
  int64_t m = 0, i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = hn::LoadU(d, v + i);
    const auto in = hn::Ge(x, vc);
    hn::StoreU(hn::Compress(x, in), d, out + m);
    m += static_cast<int64_t>(hn::CountTrue(d, in));
  }
  for (; i < n; ++i)
    if (v[i] >= cut) out[m++] = v[i];
  return m;
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(MinMax);
HWY_EXPORT(ComputeBins);
HWY_EXPORT(CollectBin);
HWY_EXPORT(CountAtLeast);
HWY_EXPORT(CollectAtLeast);

namespace {

constexpr int64_t kMaxBins = 2048;  // 16 KB of two histograms: stays in L1
constexpr int64_t kSlack = 64;      // room for full-vector compress stores

// The need-th largest of v[0..m) and how many of the `need` are equal to it.
TopCThreshold ExactSelect(const float* v, int64_t m, int64_t need, std::vector<float>* tmp) {
  tmp->assign(v, v + m);
  std::nth_element(tmp->begin(), tmp->begin() + (need - 1), tmp->end(), std::greater<float>());
  const float kf = (*tmp)[need - 1];
  int64_t greater = 0;
  for (int64_t i = 0; i < m; ++i) greater += v[i] > kf;
  TopCThreshold th;
  th.key = OrderedKey(kf);
  th.ties = need - greater;
  return th;
}

// The threshold by one histogram over all of v[0..n), whose range is
// [lo, hi].
TopCThreshold BinnedThreshold(const float* v, int64_t n, int64_t c, float lo, float hi,
                              BinnedScratch* s) {
  if (lo == hi) {  // all equal (this also covers n == 1): the first c cells
    TopCThreshold th;
    th.key = OrderedKey(lo);
    th.ties = c;
    return th;
  }
  // About 8 values per bin: clearing and scanning more counts cost more
  // than the exact select of a slightly fuller threshold bin saves (EC
  // 4096x64, 1 thread: 2 values per bin 202 us, 8 per bin 166 us).
  int64_t nb = 16;
  while (nb < kMaxBins && nb < n / 8) nb *= 2;
  const float range = hi - lo;
  const float scale = static_cast<float>(nb) / range;
  // An infinite range or scale (infinities, huge spans, subnormal spans)
  // would make the products meaningless: select exactly instead.
  if (!std::isfinite(range) || !std::isfinite(scale) || !(scale > 0.0f))
    return ExactSelect(v, n, c, &s->work);
  s->bins.resize(n);
  int32_t* bins = s->bins.data();
  const int32_t top = static_cast<int32_t>(nb - 1);
  HWY_DYNAMIC_DISPATCH(ComputeBins)(v, n, lo, scale, top, bins);
  // Two histograms, even and odd cells: runs of equal bins (common, scores
  // crowd) would otherwise chain every increment on the previous store.
  s->hist.assign(2 * nb, 0);
  uint32_t* h0 = s->hist.data();
  uint32_t* h1 = h0 + nb;
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    ++h0[bins[i]];
    ++h1[bins[i + 1]];
  }
  if (i < n) ++h0[bins[i]];
  int64_t above = 0, b = top;
  for (;; --b) {
    const int64_t here = static_cast<int64_t>(h0[b]) + h1[b];
    if (above + here >= c) break;
    above += here;
  }
  s->members.resize(n + kSlack);
  const int64_t m = HWY_DYNAMIC_DISPATCH(CollectBin)(v, bins, n, static_cast<int32_t>(b),
                                                     s->members.data());
  return ExactSelect(s->members.data(), m, c - above, &s->work);
}

}  // namespace

TopCThreshold FindTopCThresholdBinned(const float* v, int64_t n, int64_t c, BinnedScratch* s) {
  float lo, hi;
  HWY_DYNAMIC_DISPATCH(MinMax)(v, n, &lo, &hi);
  return FindTopCThresholdBinned(v, n, c, lo, hi, s);
}

TopCThreshold FindTopCThresholdBinned(const float* v, int64_t n, int64_t c, float lo, float hi,
                                      BinnedScratch* s) {
  // A small budget (EC: k/N of the column) needs only the top of the column:
  // bisect the value range with vector counts until at most 3c values are
  // >= the cut, then bin only those. The scalar histogram increments were
  // most of this function. Exact whatever the cut: count(>= cut) >= c keeps
  // the c-th largest and every value equal to it (in order) in the subset,
  // so the threshold and its tie count are those of the whole column.
  if (n >= 256 && 4 * c <= n && std::isfinite(hi - lo)) {
    float a = lo, b = hi;  // count(>= a) >= c, count(>= b) unknown
    int64_t ca = n;
    // The first cut is the hint left by the previous column, when there is
    // one: in 4096x64 EC it lands in [c, 3c] at once about half the time,
    // and a column takes 1.9 counts instead of halving the range's 3.1.
    const bool hinted = s->hint_n == n && s->hint_c == c && s->hint > lo && s->hint < hi;
    for (int it = 0; it < 12 && ca > 3 * c; ++it) {
      const float mid = it == 0 && hinted ? s->hint : a + (b - a) * 0.5f;
      if (!(mid > a && mid < b)) break;
      const int64_t cm = HWY_DYNAMIC_DISPATCH(CountAtLeast)(v, n, mid);
      if (cm >= c) {
        a = mid;
        ca = cm;
      } else {
        b = mid;
      }
    }
    if (ca < n) {
      // The subset's range is within [a, hi] (hi, the column's maximum, is
      // in it): bin over that without another MinMax pass.
      s->top.resize(ca + kSlack);
      const int64_t m = HWY_DYNAMIC_DISPATCH(CollectAtLeast)(v, n, a, s->top.data());
      const TopCThreshold th = BinnedThreshold(s->top.data(), m, c, a, hi, s);
      // Next hint: the value of rank ~1.7c (the middle of [c, 3c] on a log
      // scale), interpolated between the threshold (rank c) and a (rank ca).
      const float kf = KeyToFloat(th.key);
      const double t = ca > c ? (0.7 * static_cast<double>(c)) / static_cast<double>(ca - c) : 0.0;
      s->hint = static_cast<float>(kf + (static_cast<double>(a) - kf) * std::min(1.0, t));
      s->hint_n = n;
      s->hint_c = c;
      return th;
    }
  }
  return BinnedThreshold(v, n, c, lo, hi, s);
}

}  // namespace usmoe
#endif  // HWY_ONCE
