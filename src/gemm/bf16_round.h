// f32 -> bf16 with IEEE round-to-nearest-even (as PyTorch's .bfloat16() and
// oneDNN). Highway 1.0.3's DemoteTo(bf16) truncates, hence this kernel.
#ifndef USMOE_SRC_GEMM_BF16_ROUND_H_
#define USMOE_SRC_GEMM_BF16_ROUND_H_

#include <cstdint>

namespace usmoe {

// out[i] = bf16 bit pattern of in[i], rounded to nearest, ties to even.
// Finite values beyond the largest bf16 round to ±Inf (as RNE does); ±Inf
// stay ±Inf; a NaN stays a NaN of the same sign, quieted (its top 7 payload
// bits kept). Denormals round like any other value (no flush). in and out
// may not overlap. n ≥ 0.
void F32ToBf16Rne(const float* in, int64_t n, uint16_t* out);

}  // namespace usmoe

#endif  // USMOE_SRC_GEMM_BF16_ROUND_H_
