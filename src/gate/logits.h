// Gate GEMM: L = X Wᵀ (T×N, f32 accumulation).
#ifndef USMOE_SRC_GATE_LOGITS_H_
#define USMOE_SRC_GATE_LOGITS_H_

#include <cstdint>

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

// The same with bf16 activations (bit patterns), widened exactly on the fly:
// the products and sums are those of GateLogitsF32 on the widened X.
void GateLogitsBf16(const uint16_t* x, const float* packed, int64_t num_tokens,
                    int64_t num_experts, int64_t dim, float* logits);

// The same panels of bf16 weights (bit patterns), for the expert executor:
// f32 activations times bf16 weights widened exactly on load, so the
// products and sums are those of GateLogitsF32 on the widened W, at half
// the weight bytes.
void PackGateWeightBf16(const uint16_t* w, int64_t num_experts, int64_t dim, uint16_t* packed);
void GateLogitsBf16W(const float* x, const uint16_t* packed, int64_t num_tokens,
                     int64_t num_experts, int64_t dim, float* logits);

// bf16 bit patterns -> f32 (exact: a bf16 is the upper half of an f32).
void Bf16ToF32(const uint16_t* in, int64_t n, float* out);

}  // namespace usmoe

#endif  // USMOE_SRC_GATE_LOGITS_H_
