// Gate GEMM: L = X Wᵀ (T×N, f32 accumulation).
#ifndef USMOE_SRC_GATE_LOGITS_H_
#define USMOE_SRC_GATE_LOGITS_H_

#include <cstdint>

namespace usmoe {

// x: T×d, w: N×d, logits: T×N; all f32, row-major. Threads over tokens.
void GateLogitsF32(const float* x, const float* w, int64_t num_tokens,
                   int64_t num_experts, int64_t dim, float* logits);

// bf16 bit patterns -> f32 (exact: a bf16 is the upper half of an f32).
void Bf16ToF32(const uint16_t* in, int64_t n, float* out);

}  // namespace usmoe

#endif  // USMOE_SRC_GATE_LOGITS_H_
