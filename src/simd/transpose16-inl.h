// 16x16 transpose of 32-bit lanes in AVX-512 registers, included inside each
// target's HWY_NAMESPACE (per-target include guard, like Highway's -inl.h).
//
// Why a register transpose: turning row-major scores into per-expert runs is
// a step of both row top-k and the Expert-Choice column select; one scalar
// store per value cost as much as the selection itself (42% of top-8 of 64
// on Zen 5). 32-bit then 64-bit interleaves transpose the 4x4 tiles inside
// each 128-bit block; a 4x4 transpose of the blocks finishes it: about 80
// shuffles per 256 values.
#if defined(USMOE_SRC_SIMD_TRANSPOSE16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef USMOE_SRC_SIMD_TRANSPOSE16_INL_H_
#undef USMOE_SRC_SIMD_TRANSPOSE16_INL_H_
#else
#define USMOE_SRC_SIMD_TRANSPOSE16_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// The first two rounds of both transposes below: for each group of 4 rows
// r[4g..4g+3] (kRows / 4 groups), the 4x4 transpose inside every 128-bit
// block, by 32-bit then 64-bit interleaves: u[4g + j], block b, holds lane
// 4b + j of those 4 rows.
template <int kRows>
HWY_INLINE void Transpose4x4InBlocks(
    const hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::ScalableTag<int32_t>>* r,
    hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::ScalableTag<int32_t>>* u) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<int32_t> d;
  const hn::Repartition<int64_t, decltype(d)> d64;
  for (int g = 0; g < kRows; g += 4) {
    const auto t0 = hn::BitCast(d64, hn::InterleaveLower(d, r[g], r[g + 1]));
    const auto t1 = hn::BitCast(d64, hn::InterleaveUpper(d, r[g], r[g + 1]));
    const auto t2 = hn::BitCast(d64, hn::InterleaveLower(d, r[g + 2], r[g + 3]));
    const auto t3 = hn::BitCast(d64, hn::InterleaveUpper(d, r[g + 2], r[g + 3]));
    u[g + 0] = hn::BitCast(d, hn::InterleaveLower(d64, t0, t2));
    u[g + 1] = hn::BitCast(d, hn::InterleaveUpper(d64, t0, t2));
    u[g + 2] = hn::BitCast(d, hn::InterleaveLower(d64, t1, t3));
    u[g + 3] = hn::BitCast(d, hn::InterleaveUpper(d64, t1, t3));
  }
}

// r[i] holds row i on entry and column i on return.
HWY_INLINE void Transpose16x16(hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::ScalableTag<int32_t>>* r) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<int32_t> d;
  using V = hn::Vec<decltype(d)>;
  HWY_ALIGN static constexpr int32_t kSwap[16] = {4, 5, 6, 7, 0, 1, 2, 3,
                                                  12, 13, 14, 15, 8, 9, 10, 11};
  const auto swap = hn::SetTableIndices(d, kSwap);
  V u[16];
  Transpose4x4InBlocks<16>(r, u);  // u[4g + j], block b: column j + 4b of rows 4g..4g+3
  for (int j = 0; j < 4; ++j) {
    const V a0 = u[j], a1 = u[4 + j], a2 = u[8 + j], a3 = u[12 + j];
    const V p0 = hn::OddEvenBlocks(hn::TableLookupLanes(a1, swap), a0);
    const V p1 = hn::OddEvenBlocks(a1, hn::TableLookupLanes(a0, swap));
    const V p2 = hn::OddEvenBlocks(hn::TableLookupLanes(a3, swap), a2);
    const V p3 = hn::OddEvenBlocks(a3, hn::TableLookupLanes(a2, swap));
    r[j] = hn::ConcatLowerLower(d, p2, p0);
    r[j + 8] = hn::ConcatUpperUpper(d, p2, p0);
    r[j + 4] = hn::ConcatLowerLower(d, p3, p1);
    r[j + 12] = hn::ConcatUpperUpper(d, p3, p1);
  }
}

// Two 8x8 transposes at once, one in each 256-bit half: r[k]'s lower half is
// row k of a matrix A and its upper half row k of B; on return r[j] holds
// column j of A (lower half) and of B (upper half). Its own inverse. A block of 16 rows of 8 scores (N = 8) is 8 vectors of
// two rows each; this turns them expert-major in 32 operations where the
// 16x16 transpose of padded rows takes 80.
HWY_INLINE void Transpose8x8Halves(
    hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::ScalableTag<int32_t>>* r) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<int32_t> d;
  using V = hn::Vec<decltype(d)>;
  // Blocks (b0, b0, b2, b2) and (b1, b1, b3, b3) of a vector.
  HWY_ALIGN static constexpr int32_t kEven[16] = {0, 1, 2, 3, 0, 1, 2, 3,
                                                  8, 9, 10, 11, 8, 9, 10, 11};
  HWY_ALIGN static constexpr int32_t kOdd[16] = {4, 5, 6, 7, 4, 5, 6, 7,
                                                 12, 13, 14, 15, 12, 13, 14, 15};
  const auto even = hn::SetTableIndices(d, kEven);
  const auto odd = hn::SetTableIndices(d, kOdd);
  V u[8];
  // u[j] (j < 4), block b: column j + 4·(b odd) of rows 0-3 (u[j + 4]: 4-7)
  // of A (blocks 0, 1) and of B (blocks 2, 3).
  Transpose4x4InBlocks<8>(r, u);
  for (int j = 0; j < 4; ++j) {
    r[j] = hn::OddEvenBlocks(hn::TableLookupLanes(u[j + 4], even), u[j]);
    r[j + 4] = hn::OddEvenBlocks(u[j + 4], hn::TableLookupLanes(u[j], odd));
  }
}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
