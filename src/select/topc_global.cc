// SIMD global top-c: sample -> bracket -> count + compress -> exact select
// among candidates -> compaction.
//
// Why not a full radix select: post-softmax scores crowd into a few
// exponents, so the threshold bucket of an 11-bit histogram still holds a
// large share of the cells and needs more full passes. A sample of 2048
// cells brackets the c-th value within a few percent of the cells; the two
// full passes left (count/compress, then compaction) are plain streaming
// vector compares. Float compares are exact for the tie rule: -0.0 == +0.0,
// and NaN never gets here.
//
// Compress + StoreU, not CompressStore: on the Zen 5 VM we measured, the
// memory form of vpcompressd (what CompressStore emits on AVX-512) ran a
// 262k-cell filter in 346 us against 27.5 us for the register form + storeu.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/select/topc_global.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/simd/transpose16-inl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "src/route/find_bad_value.h"
#include "src/runtime/threads.h"
#include "src/select/select_keys.h"
#include "src/select/topc_global.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Counts values > hi; compress-stores the values in [lo, hi], keeping their
// order (the tie rule only needs how many equal values precede, not where).
// Also reports whether any value is NaN (NaN fails both compares), so a
// caller that must reject NaN needs no pass of its own.
//
// The store is unconditional: with a bracket holding a few percent of the
// cells, most vectors hold a candidate at random, and the branch that
// skipped empty vectors mispredicted often enough to cost more than the
// stores (32768x64 on Zen 5: 1.66 ms -> 0.90 ms for the whole top-c).
int64_t CountAndCollect(const float* HWY_RESTRICT v, int64_t n, float lo, float hi,
                        float* HWY_RESTRICT cand, int64_t* num_cand, bool* saw_nan) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  auto nan = hn::FirstN(d, 0);
  int64_t above = 0, m = 0, i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = hn::LoadU(d, v + i);
    const auto gt = hn::Gt(x, vhi);
    nan = hn::Or(nan, hn::IsNaN(x));
    above += static_cast<int64_t>(hn::CountTrue(d, gt));
    const auto in = hn::AndNot(gt, hn::Ge(x, vlo));
    hn::StoreU(hn::Compress(x, in), d, cand + m);
    m += static_cast<int64_t>(hn::CountTrue(d, in));
  }
  bool any_nan = !hn::AllFalse(d, nan);
  for (; i < n; ++i) {
    if (v[i] > hi) {
      ++above;
    } else if (v[i] >= lo) {
      cand[m++] = v[i];
    } else if (std::isnan(v[i])) {
      any_nan = true;
    }
  }
  *num_cand = m;
  *saw_nan = any_nan;
  return above;
}

// Writes base + i for the selected i of v[0..n), ascending: every value
// > kf and the first `ties` values == kf. Full-vector stores spill up to a
// vector past the last index written; only while m + lanes <= room, so a
// caller filling one slice of a shared output passes the slice's length
// and its neighbour's slice stays untouched.
int64_t CompactIndices(const float* HWY_RESTRICT v, int64_t n, float kf, int64_t ties,
                       uint32_t base, int64_t room, uint32_t* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vk = hn::Set(d, kf);
  const auto iota = hn::Iota(du, 0);
  int64_t m = 0, i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto x = hn::LoadU(d, v + i);
    const auto eq = hn::Eq(x, vk);
    if (HWY_LIKELY(hn::AllFalse(d, eq) && m + lanes <= room)) {
      const auto gt = hn::Gt(x, vk);
      const auto idx = hn::Add(iota, hn::Set(du, base + static_cast<uint32_t>(i)));
      hn::StoreU(hn::Compress(idx, hn::RebindMask(du, gt)), du, out + m);
      m += static_cast<int64_t>(hn::CountTrue(d, gt));
      continue;
    }
    for (int64_t j = i; j < i + lanes; ++j) {  // a tie in this vector: in index order
      if (v[j] > kf || (v[j] == kf && ties > 0 && ties--))
        out[m++] = base + static_cast<uint32_t>(j);
    }
  }
  for (; i < n; ++i)
    if (v[i] > kf || (v[i] == kf && ties > 0 && ties--)) out[m++] = base + static_cast<uint32_t>(i);
  return m;
}

// The k-th largest (0-based) of v[0..n), no NaN, v unchanged. Rounds of
// three-way partition around a median-of-three pivot, each a branch-free
// vector pass writing the larger and the smaller values with Compress into
// two of the three work buffers (3 · (n + 64) floats) that the round does
// not read. std::nth_element on the bracketing sample (2048 values) spent
// ~11 us a call mispredicting, a fifth of a 4096x64 top-c. The k-th value
// is unique whatever the pivots, so the result does not depend on the target.
float KthLargestVec(const float* HWY_RESTRICT v, int64_t n, int64_t k, float* HWY_RESTRICT work) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t stride = n + 64;
  float* buf[3] = {work, work + stride, work + 2 * stride};
  const float* a = v;
  int in = -1;  // the buffer a is in (-1: v)
  // Each round drops at least the pivot's copies; after 48 rounds of bad
  // pivots std::nth_element finishes.
  for (int round = 0; n > 64 && round < 48; ++round) {
    const float x0 = a[0], x1 = a[n / 2], x2 = a[n - 1];
    const float p = std::max(std::min(x0, x1), std::min(std::max(x0, x1), x2));
    const int gi = in == 0 ? 1 : 0, li = in == 2 ? 1 : 2;
    float* gt_out = buf[gi];
    float* lt_out = buf[li];
    const auto vp = hn::Set(d, p);
    int64_t g = 0, l = 0, i = 0;
    for (; i + lanes <= n; i += lanes) {
      const auto x = hn::LoadU(d, a + i);
      const auto gt = hn::Gt(x, vp), lt = hn::Lt(x, vp);
      hn::StoreU(hn::Compress(x, gt), d, gt_out + g);
      g += static_cast<int64_t>(hn::CountTrue(d, gt));
      hn::StoreU(hn::Compress(x, lt), d, lt_out + l);
      l += static_cast<int64_t>(hn::CountTrue(d, lt));
    }
    for (; i < n; ++i) {
      if (a[i] > p) gt_out[g++] = a[i];
      if (a[i] < p) lt_out[l++] = a[i];
    }
    if (k < g) {
      a = gt_out;
      in = gi;
      n = g;
    } else if (k < n - l) {
      return p;
    } else {
      k -= n - l;
      a = lt_out;
      in = li;
      n = l;
    }
  }
  float* rest = buf[in == 0 ? 1 : 0];
  std::copy(a, a + n, rest);
  std::nth_element(rest, rest + k, rest + n, std::greater<float>());
  return rest[k];
}

// Blocked by 16 rows so each column's writes are contiguous runs (a naive
// column-at-a-time copy touches a new page per element); on AVX-512 each
// 16x16 tile goes through a register transpose. Each column's minimum and
// maximum come along (the binned threshold needs them): before the
// transpose, an element-wise min/max of the tile's 16 row vectors is the
// 16 columns' extremes over those rows, which spares the selection a pass
// over every column.
void GatherColumnsVec(const float* HWY_RESTRICT src, int64_t stride, const int64_t* rows,
                      int64_t m, int64_t n, float* HWY_RESTRICT cols, int64_t ld,
                      float* HWY_RESTRICT col_min, float* HWY_RESTRICT col_max) {
  constexpr int64_t kBlock = 16;
  for (int64_t e = 0; e < n; ++e) {
    col_min[e] = HUGE_VALF;
    col_max[e] = -HUGE_VALF;
  }
  for (int64_t i0 = 0; i0 < m; i0 += kBlock) {
    const int64_t i1 = std::min(m, i0 + kBlock);
    int64_t e0 = 0;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    if (i1 - i0 == kBlock) {
      const hn::ScalableTag<int32_t> di;
      const hn::ScalableTag<float> df;
      const int32_t* s32 = reinterpret_cast<const int32_t*>(src);
      for (; e0 + kBlock <= n; e0 += kBlock) {
        hn::Vec<decltype(di)> r[kBlock];
        for (int64_t i = 0; i < kBlock; ++i)
          r[i] = hn::LoadU(di, s32 + (rows ? rows[i0 + i] : i0 + i) * stride + e0);
        auto lo = hn::BitCast(df, r[0]), hi = lo;
        for (int64_t i = 1; i < kBlock; ++i) {
          lo = hn::Min(lo, hn::BitCast(df, r[i]));
          hi = hn::Max(hi, hn::BitCast(df, r[i]));
        }
        hn::StoreU(hn::Min(lo, hn::LoadU(df, col_min + e0)), df, col_min + e0);
        hn::StoreU(hn::Max(hi, hn::LoadU(df, col_max + e0)), df, col_max + e0);
        Transpose16x16(r);
        for (int64_t j = 0; j < kBlock; ++j)
          hn::StoreU(r[j], di, reinterpret_cast<int32_t*>(cols) + (e0 + j) * ld + i0);
      }
    }
#endif
    for (int64_t e = e0; e < n; ++e) {
      float* dst = cols + e * ld;
      float lo = col_min[e], hi = col_max[e];
      for (int64_t i = i0; i < i1; ++i) {
        const float v = src[(rows ? rows[i] : i) * stride + e];
        dst[i] = v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      col_min[e] = lo;
      col_max[e] = hi;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(CountAndCollect);
HWY_EXPORT(KthLargestVec);
HWY_EXPORT(CompactIndices);
HWY_EXPORT(GatherColumnsVec);

namespace {
constexpr int64_t kSample = 2048;
// Below this many candidates the binned select is cheaper than a round.
constexpr int64_t kTopCFinishCells = 1024;
constexpr int64_t kSlack = 64;  // room for full-vector compress stores
}  // namespace

namespace {

// Brackets the need-th largest of v[0..n) between two order statistics of a
// deterministic sample. The rank's standard deviation in the sample
// is sqrt(S·q·(1-q)), q = need/n; ±4 of them (+4) rarely misses, and a miss
// costs only a slower exact select, never correctness.
// Returns false, bracketing nothing, when the sample holds a NaN (the
// selects below need an ordering).
bool Bracket(const float* v, int64_t n, int64_t need, std::vector<float>* sample,
             std::vector<float>* work, float* lo, float* hi) {
  const int64_t S = std::min(kSample, n / 16);
  sample->resize(S);
  // Golden-ratio positions: spread like a random sample but deterministic,
  // and never in step with the row length (a stride of n/S is a multiple of
  // N for T×N inputs and would sample a single expert's column).
  // In 32.32 fixed point: frac(j·phi) is the low 64 bits of j·2^64·phi,
  // and its top 32 bits times n (< 2^32 here) shifted down are the
  // position; no floor (a libm call in this baseline-ISA part), no division.
  constexpr uint64_t kPhi64 = 0x9E3779B97F4A7C15u;  // 2^64 · (sqrt(5) - 1) / 2
  uint64_t u = 0;
  for (int64_t j = 0; j < S; ++j, u += kPhi64)
    (*sample)[j] = v[static_cast<int64_t>(((u >> 32) * static_cast<uint64_t>(n)) >> 32)];
  for (const float x : *sample)
    if (std::isnan(x)) return false;
  const double q = static_cast<double>(need) / static_cast<double>(n);
  const int64_t delta = static_cast<int64_t>(4.0 * std::sqrt(S * q * (1.0 - q))) + 4;
  const int64_t p = static_cast<int64_t>(q * S);
  const int64_t hi_rank = p - delta, lo_rank = p + delta;  // ranks in descending order
  *hi = HUGE_VALF;
  *lo = -HUGE_VALF;
  if (hi_rank >= 0) *hi = KthLargest(sample->data(), S, hi_rank, work);
  if (lo_rank < S) *lo = KthLargest(sample->data(), S, lo_rank, work);
  return true;
}

// The threshold, with round 0's full pass split over `threads` contiguous
// ranges. When that round's bracket holds the threshold (the usual case),
// parts[t] receives range t's cells above the bracket and its slice of the
// round's candidates, which is all the compaction needs to know where each
// range's output starts; *split tells whether it did.
TopCThreshold FindThreshold(const float* v, int64_t n, int64_t c, int threads, TopCScratch* s,
                            bool* saw_nan, bool* split) {
  *split = false;
  if (saw_nan) {
    *saw_nan = false;
    if (n <= kTopCFinishCells && FindFirstNaN(v, n) >= 0) {
      *saw_nan = true;
      return TopCThreshold{};
    }
  }
  if (n <= kTopCFinishCells) return FindTopCThresholdBinned(v, n, c, &s->binned);
  // Round 0 reads all of v, so it doubles as the NaN check; it must come
  // before anything that bins values (a NaN bin index would be garbage).
  float lo, hi;
  if (!Bracket(v, n, c, &s->sample, &s->sample_work, &lo, &hi)) {  // a NaN in the sample
    if (saw_nan) *saw_nan = true;
    return TopCThreshold{};
  }
  // Range t writes its candidates at begin(t) + t·kSlack, room for its
  // compress stores' spill; the slices are closed up afterwards.
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n / 4096)));
  s->parts.resize(parts);
  s->cand_values.resize(n + (parts + 1) * kSlack);
  float* cand = s->cand_values.data();
  auto begin = [&](int64_t t) { return n * t / parts / 64 * 64; };
  ParallelFor(parts, parts, false, [&](int64_t t, int) {
    TopCScratch::Part& p = s->parts[t];
    const int64_t b = begin(t), e = t + 1 == parts ? n : begin(t + 1);
    p.begin = b;
    p.end = e;
    p.above = HWY_DYNAMIC_DISPATCH(CountAndCollect)(v + b, e - b, lo, hi, cand + b + t * kSlack,
                                                    &p.num_cand, &p.nan);
  });
  int64_t above = 0, m = 0;
  for (int t = 0; t < parts; ++t) {
    TopCScratch::Part& p = s->parts[t];
    if (p.nan) {
      if (saw_nan) *saw_nan = true;
      return TopCThreshold{};
    }
    std::memmove(cand + m, cand + p.begin + t * kSlack, sizeof(float) * p.num_cand);
    p.cand = m;
    above += p.above;
    m += p.num_cand;
  }
  // A miss (the threshold outside the bracket): exact select on all of v.
  if (!(above < c && above + m >= c)) return FindTopCThresholdBinned(v, n, c, &s->binned);
  *split = true;
  if (m == n) return FindTopCThresholdBinned(v, n, c, &s->binned);  // no progress (all equal)

  // Later rounds run on a few percent of the cells, on one thread. Each
  // keeps only the cells inside its bracket, so rounds shrink the set
  // geometrically; the last thousand cells or so go to the binned exact
  // select. `need` is the rank of the threshold inside the current set.
  const float* cur = cand;
  int64_t cur_n = m, need = c - above;
  s->cand_later.resize(2 * (m + kSlack));
  float* bufs[2] = {s->cand_later.data(), s->cand_later.data() + m + kSlack};
  for (int round = 1; cur_n > kTopCFinishCells; ++round) {
    if (!Bracket(cur, cur_n, need, &s->sample, &s->sample_work, &lo, &hi)) break;  // no NaN left by now
    float* next = bufs[round & 1];
    int64_t mr = 0;
    bool nan = false;
    const int64_t ab = HWY_DYNAMIC_DISPATCH(CountAndCollect)(cur, cur_n, lo, hi, next, &mr, &nan);
    if (!(ab < need && ab + mr >= need)) break;  // missed: exact select on cur
    if (mr == cur_n) break;                      // no progress (all equal)
    need -= ab;
    cur = next;
    cur_n = mr;
  }
  return FindTopCThresholdBinned(cur, cur_n, need, &s->binned);
}

}  // namespace

int64_t SelectTopCIndices(const float* v, int64_t n, int64_t c, int threads, TopCScratch* s,
                          uint32_t* out, bool* saw_nan) {
  bool split;
  const TopCThreshold th = FindThreshold(v, n, c, threads, s, saw_nan, &split);
  if (saw_nan && *saw_nan) return 0;
  const float kf = KeyToFloat(th.key);
  const int parts = split ? static_cast<int>(s->parts.size()) : 1;
  if (parts == 1)
    return HWY_DYNAMIC_DISPATCH(CompactIndices)(v, n, kf, th.ties, 0, n + kSlack, out);
  // Each range's share of the output, from round 0 alone: its cells above
  // the bracket, plus its candidates above kf, plus the ties it takes (the
  // first th.ties equal cells in index order, so the lower ranges' first).
  const float* cand = s->cand_values.data();
  int64_t at = 0, ties_left = th.ties;
  for (TopCScratch::Part& p : s->parts) {
    int64_t gt = 0, eq = 0;
    for (int64_t j = p.cand; j < p.cand + p.num_cand; ++j) {
      gt += cand[j] > kf;
      eq += cand[j] == kf;
    }
    p.ties = std::min(eq, ties_left);
    ties_left -= p.ties;
    p.out = at;
    at += p.above + gt + p.ties;
  }
  ParallelFor(parts, parts, false, [&](int64_t t, int) {
    const TopCScratch::Part& p = s->parts[t];
    const int64_t room = (t + 1 == parts ? at + kSlack : s->parts[t + 1].out) - p.out;
    HWY_DYNAMIC_DISPATCH(CompactIndices)(v + p.begin, p.end - p.begin, kf, p.ties,
                                         static_cast<uint32_t>(p.begin), room, out + p.out);
  });
  return at;
}

void GatherColumns(const float* src, int64_t stride, const int64_t* rows, int64_t m, int64_t n,
                   float* cols, int64_t ld, float* col_min, float* col_max) {
  HWY_DYNAMIC_DISPATCH(GatherColumnsVec)(src, stride, rows, m, n, cols, ld, col_min, col_max);
}

int64_t GatherColumnStride(int64_t m) {
  int64_t ld = (m + 15) / 16 * 16;
  if (ld % 256 == 0) ld += 16;
  return ld;
}

float KthLargest(const float* v, int64_t n, int64_t k, std::vector<float>* work) {
  work->resize(3 * (n + 64));
  return HWY_DYNAMIC_DISPATCH(KthLargestVec)(v, n, k, work->data());
}

int64_t CompactTopCIndices(const float* v, int64_t n, TopCThreshold th, uint32_t* out) {
  return HWY_DYNAMIC_DISPATCH(CompactIndices)(v, n, KeyToFloat(th.key), th.ties, 0, n + kSlack,
                                              out);
}

}  // namespace usmoe
#endif  // HWY_ONCE
