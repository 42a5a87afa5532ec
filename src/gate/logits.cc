// Gate GEMM, f32, written once for every Highway target.
//
// N is small (8..256) and d large (512..4096): each logit is a long dot
// product. A 4-token × 4-expert block keeps 16 vector accumulators live and
// loads 8 vectors per 16 FMAs, so the kernel is FMA-bound rather than
// load-bound while X rows and W rows stream from L1/L2.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/gate/logits.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "src/gate/logits.h"
#include "src/runtime/threads.h"

HWY_BEFORE_NAMESPACE();
namespace usmoe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <int kT, int kE>
HWY_INLINE void DotBlock(const float* HWY_RESTRICT x, const float* HWY_RESTRICT w,
                         int64_t dim, int64_t ld_out, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  V acc[kT][kE];
  for (int i = 0; i < kT; ++i)
    for (int j = 0; j < kE; ++j) acc[i][j] = hn::Zero(d);
  int64_t k = 0;
  for (; k + lanes <= dim; k += lanes) {
    V wv[kE];
    for (int j = 0; j < kE; ++j) wv[j] = hn::LoadU(d, w + j * dim + k);
    for (int i = 0; i < kT; ++i) {
      const V xv = hn::LoadU(d, x + i * dim + k);
      for (int j = 0; j < kE; ++j) acc[i][j] = hn::MulAdd(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < kT; ++i) {
    for (int j = 0; j < kE; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(d, acc[i][j]));
      for (int64_t kk = k; kk < dim; ++kk) s += x[i * dim + kk] * w[j * dim + kk];
      out[i * ld_out + j] = s;
    }
  }
}

void GateLogitsF32(const float* HWY_RESTRICT x, const float* HWY_RESTRICT w,
                   int64_t T, int64_t N, int64_t dim, float* HWY_RESTRICT L) {
  constexpr int64_t kTB = 4, kEB = 4;
  const int64_t t_blocks = (T + kTB - 1) / kTB;
#pragma omp parallel for schedule(static) num_threads(NumThreads()) if (T * N * dim > (1 << 18))
  for (int64_t tb = 0; tb < t_blocks; ++tb) {
    const int64_t t0 = tb * kTB;
    const float* xt = x + t0 * dim;
    float* lt = L + t0 * N;
    if (t0 + kTB <= T) {
      int64_t e = 0;
      for (; e + kEB <= N; e += kEB) DotBlock<4, 4>(xt, w + e * dim, dim, N, lt + e);
      for (; e < N; ++e) DotBlock<4, 1>(xt, w + e * dim, dim, N, lt + e);
    } else {
      for (int64_t t = t0; t < T; ++t) {
        int64_t e = 0;
        for (; e + kEB <= N; e += kEB)
          DotBlock<1, 4>(x + t * dim, w + e * dim, dim, N, L + t * N + e);
        for (; e < N; ++e) DotBlock<1, 1>(x + t * dim, w + e * dim, dim, N, L + t * N + e);
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace usmoe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace usmoe {
HWY_EXPORT(GateLogitsF32);

void GateLogitsF32(const float* x, const float* w, int64_t num_tokens,
                   int64_t num_experts, int64_t dim, float* logits) {
  HWY_DYNAMIC_DISPATCH(GateLogitsF32)(x, w, num_tokens, num_experts, dim, logits);
}

void Bf16ToF32(const uint16_t* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(in[i]) << 16;
    __builtin_memcpy(out + i, &bits, sizeof(bits));
  }
}
}  // namespace usmoe
#endif  // HWY_ONCE
