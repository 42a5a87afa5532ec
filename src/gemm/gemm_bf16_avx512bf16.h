// The vdpbf16ps (avx512_bf16) implementation of GemmBf16, private to
// src/gemm/. Highway 1.0.3 never emits vdpbf16ps, so it is written with raw
// intrinsics in functions carrying their own target attribute (no global
// -m flags: the rest of the binary must run on any x86-64).
#ifndef USMOE_SRC_GEMM_GEMM_BF16_AVX512BF16_H_
#define USMOE_SRC_GEMM_GEMM_BF16_AVX512BF16_H_

#include <cstdint>

// GCC ≥ 10 and clang ≥ 9 know the avx512bf16 target attribute and intrinsics.
#if (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__clang__) ? (__clang_major__ >= 9) : (defined(__GNUC__) && __GNUC__ >= 10))
#define USMOE_HAVE_AVX512BF16_GEMM 1
#else
#define USMOE_HAVE_AVX512BF16_GEMM 0
#endif

#if USMOE_HAVE_AVX512BF16_GEMM
namespace usmoe {

// CPUID reports avx512_bf16. Only meaningful together with an AVX-512
// Highway target, whose selection already checked the OS saves zmm state.
bool CpuHasAvx512Bf16();

// GemmBf16 (src/gemm/gemm_bf16.h), same contract; the caller has checked
// CpuHasAvx512Bf16().
void GemmBf16Avx512Bf16(const uint16_t* x, int64_t ldx, const uint16_t* packed, int64_t m,
                        int64_t n, int64_t k, float* y, int64_t ldy);

}  // namespace usmoe
#endif  // USMOE_HAVE_AVX512BF16_GEMM

#endif  // USMOE_SRC_GEMM_GEMM_BF16_AVX512BF16_H_
