// bf16 × bf16 → f32 GEMM against a weight packed once: Y = X Wᵀ.
//
// Used by the router's gate GEMM (bf16 routers, usmoe_logits with BF16) and
// meant for the expert executor's bf16 weights.
//
// Layout (target-independent, so weights packed under one SIMD target are
// used under any other): W (n×k bf16, row-major) is cut into panels of
// kBf16Panel = 16 output rows; inside a panel, k-pairs are k-major and the two
// elements of a pair adjacent:
//   packed[((p·kp_count + kp)·16 + j)·2 + h] = W[p·16 + j][2·kp + h],
//   kp_count = ceil(k/2), 0 for odd k's last h = 1 and for rows ≥ n.
// One 64-byte line therefore holds one k-pair of 16 output rows: exactly the
// operand of one vdpbf16ps, and two widened f32 vectors for the portable path.
//
// Numerics (f32 accumulation, one chain per output element, k ascending):
//   - Portable path (every Highway target; x86 without avx512_bf16 or with a
//     dispatch forced below AVX3): each product is exact in f32 (8×8-bit
//     significands) and is added with one FMA in k order, so on FMA targets
//     the result equals GateLogitsF32 on the widened inputs, bit for bit.
//   - avx512_bf16 path (the Highway dispatch is AVX3/AVX3_DL and CPUID has
//     avx512_bf16): vdpbf16ps adds the two products of a pair into the lane
//     (the hardware may round once or twice per pair) and treats denormal
//     inputs and results as zero (DAZ/FTZ, always RNE, whatever MXCSR says).
//     It differs from the portable path in the last bits.
//   Both satisfy (tested, tests/gemm_bf16_test.cc):
//     |y - exact| ≤ 2·k·2⁻²⁴·Σ_i|x_i·w_i| + Σ_{i: x_i or w_i denormal}|x_i·w_i|
//                   + k·2⁻¹²⁶,
//   where exact is the real dot product of the bf16 values: the standard
//   f32 dot-product bound (γ_k), plus what flushing denormal inputs and
//   denormal partial sums can lose (nothing on the portable path).
//   Results never depend on the thread count: a tile's k order is fixed.
#ifndef USMOE_SRC_GEMM_GEMM_BF16_H_
#define USMOE_SRC_GEMM_GEMM_BF16_H_

#include <cstdint>

namespace usmoe {

constexpr int64_t kBf16Panel = 16;

// Elements (uint16_t) of the packed form of an n×k bf16 matrix.
int64_t PackedBf16PairsSize(int64_t n, int64_t k);

// w: n×k bf16 bit patterns, row stride k. packed: PackedBf16PairsSize(n, k)
// elements, fully written (padding zeroed).
void PackBf16Pairs(const uint16_t* w, int64_t n, int64_t k, uint16_t* packed);

// y[i][j] = Σ_k x[i][k]·W[j][k] for i < m, j < n (only those cells written).
//   x: m rows of k bf16 values, row stride ldx ≥ k (nothing past a row's k
//      values is read); packed: from PackBf16Pairs(w, n, k); y: row stride
//   ldy ≥ n. m, n, k ≥ 1. Runs on NumThreads() threads when the product is
//   large enough; called inside an active OpenMP parallel region (e.g. an
//   executor parallel over experts) it stays on the calling thread.
//   Non-finite inputs propagate as IEEE arithmetic does (no check here).
void GemmBf16(const uint16_t* x, int64_t ldx, const uint16_t* packed, int64_t m, int64_t n,
              int64_t k, float* y, int64_t ldy);

// Dense row-major shorthand: ldx = k, ldy = n.
inline void GemmBf16(const uint16_t* x, const uint16_t* packed, int64_t m, int64_t n,
                     int64_t k, float* y) {
  GemmBf16(x, k, packed, m, n, k, y, n);
}

// Which implementation GemmBf16 runs under the current dispatch (for tests
// and benchmark labels).
enum class GemmBf16Path : int32_t { kPortable = 0, kAvx512Bf16 = 1 };
GemmBf16Path CurrentGemmBf16Path();

}  // namespace usmoe

#endif  // USMOE_SRC_GEMM_GEMM_BF16_H_
