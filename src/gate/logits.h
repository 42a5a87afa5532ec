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

// bf16 weights (bit patterns) packed as k-pairs in the same panels of 16
// rows: element (row p·16 + j, k = 2i + h) at
// packed[((p·ceil(d/2) + i)·16 + j)·2 + h], zero past n and d. It is the
// operand layout of the bf16 dot-product instruction (vdpbf16ps), and the
// portable kernels widen it exactly on load. Target-independent.
int64_t PackedBf16PairsSize(int64_t n, int64_t d);
void PackBf16Pairs(const uint16_t* w, int64_t n, int64_t d, uint16_t* packed);

// out (T×n) = X·Wᵀ with W packed as pairs, f32 FMAs in k order over the
// exactly widened values: the products and sums of GateLogitsF32 on
// the widened W (and X). X f32, or bf16 bit patterns.
void PairsLogitsF32(const float* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                    int64_t d, float* out);
void PairsLogitsBf16(const uint16_t* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                     int64_t d, float* out);

// The bf16 dot-product kernel (vdpbf16ps, logits_bf16dot.cc) for bf16 X and
// pairs: usable only when the CPU has AVX512_BF16 and the dispatch currently
// allows an AVX3 target. Numerics differ from PairsLogitsBf16 in rounding
// only: each instruction adds the pair's two exact products to the
// accumulator one after the other (odd k first) with round-to-nearest, and
// treats denormal inputs and results as zero. Results do not depend on the
// thread count.
bool Bf16DotUsable();
void PairsLogitsBf16Dot(const uint16_t* x, const uint16_t* pairs, int64_t num_tokens, int64_t n,
                        int64_t d, float* out);

// f32 -> bf16 bit patterns, rounded to nearest even (Highway's DemoteTo
// truncates); NaN stays a quiet NaN, overflow rounds to ±Inf.
void F32ToBf16Rne(const float* in, int64_t n, uint16_t* out);

// bf16 bit patterns -> f32 (exact: a bf16 is the upper half of an f32).
void Bf16ToF32(const uint16_t* in, int64_t n, float* out);

}  // namespace usmoe

#endif  // USMOE_SRC_GATE_LOGITS_H_
