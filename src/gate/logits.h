// Gate GEMM: L = X Wᵀ (T×N, f32 accumulation).
#ifndef USMOE_SRC_GATE_LOGITS_H_
#define USMOE_SRC_GATE_LOGITS_H_

#include <cstdint>

// The bf16 pair packing (PackedBf16PairsSize, PackBf16Pairs), the bf16 GEMM
// and f32 -> bf16 rounding (F32ToBf16Rne) live in src/gemm/; included here
// for the callers of the pair kernels below.
#include "src/gemm/bf16_round.h"
#include "src/gemm/gemm_bf16.h"

namespace usmoe {

// W is packed once into panels of kGatePanel experts, k-major inside a panel:
// packed[(p·d + k)·kGatePanel + j] = W[p·kGatePanel + j][k] (0 past N). The
// layout does not depend on the SIMD target, so a router packed under one
// target routes under any other.
constexpr int64_t kGatePanel = 16;

int64_t PackedGateSize(int64_t num_experts, int64_t dim);
void PackGateWeight(const float* w, int64_t num_experts, int64_t dim, float* packed);

// x: T×d f32 row-major; packed: from PackGateWeight; logits: T×N.
void GateLogitsF32(const float* x, const float* packed, int64_t num_tokens,
                   int64_t num_experts, int64_t dim, float* logits);

// bf16 weights are packed as k-pairs in the same panels of 16 rows
// (PackBf16Pairs, src/gemm/gemm_bf16.h): the operand layout of the bf16
// dot-product instruction (vdpbf16ps); the portable kernels widen it exactly
// on load. Target-independent.
// out (T×n) = X·Wᵀ with f32 X and W packed as pairs, f32 FMAs in k order over
// the exactly widened values: the products and sums of GateLogitsF32 on the
// widened W. (bf16 X with pairs: GemmBf16.)
void PairsLogitsF32(const float* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                    int64_t d, float* out);

// The executor's names for the bf16 × bf16 GEMM (src/gemm/gemm_bf16.h):
// whether it runs vdpbf16ps under the current dispatch, and the GEMM itself.
inline bool Bf16DotUsable() { return CurrentGemmBf16Path() == GemmBf16Path::kAvx512Bf16; }
inline void PairsLogitsBf16Dot(const uint16_t* x, const uint16_t* pairs, int64_t num_tokens,
                               int64_t n, int64_t d, float* out) {
  GemmBf16(x, pairs, num_tokens, n, d, out);
}

// bf16 bit patterns -> f32 (exact: a bf16 is the upper half of an f32).
void Bf16ToF32(const uint16_t* in, int64_t n, float* out);

}  // namespace usmoe

#endif  // USMOE_SRC_GATE_LOGITS_H_
