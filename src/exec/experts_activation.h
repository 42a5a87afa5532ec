// FFN activation epilogues and the f32 -> bf16 rounding of GEMM inputs.
#ifndef USMOE_SRC_EXEC_EXPERTS_ACTIVATION_H_
#define USMOE_SRC_EXEC_EXPERTS_ACTIVATION_H_

#include <cstdint>
#include <cstring>

#include "src/exec/experts.h"

namespace usmoe {

// h[r·ldh + j] = act(a[r·lda + j]), times b[r·lda + j] for SwiGLU
// (silu(a)·b; b is unused otherwise), for r < rows, j < cols. The value of
// each element depends only on a and b at that element (tails go through the
// same vector code), so how rows and columns are split never changes it.
void ActivateF32(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
                 int64_t cols, float* h, int64_t ldh);
// The same, h rounded to bf16 (round to nearest even, see RoundBf16).
void ActivateBf16(Activation act, const float* a, const float* b, int64_t lda, int64_t rows,
                  int64_t cols, uint16_t* h, int64_t ldh);

// out[i] = RoundBf16(in[i]) for i < n.
void RoundToBf16(const float* in, int64_t n, uint16_t* out);

// f32 -> bf16, round to nearest, ties to even; ±Inf stay ±Inf, finite values
// beyond the bf16 range round to ±Inf, NaN stays NaN (quiet, sign kept).
// (Highway 1.0.3's DemoteTo truncates, hence our own.)
inline uint16_t RoundBf16(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x0040u);
  b += 0x7fffu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}

}  // namespace usmoe

#endif  // USMOE_SRC_EXEC_EXPERTS_ACTIVATION_H_
