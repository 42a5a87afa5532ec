// This machine's physical limits, measured at the start of a run, so each
// figure in the table can be read as a share of what the hardware can do.
#ifndef USMOE_BENCH_PROBE_H_
#define USMOE_BENCH_PROBE_H_

namespace usmoe_bench {

struct Limits {
  double fma_gflops = 0;  // f32 FMA peak over `threads` threads, GFLOP/s
  double dram_gbps = 0;   // read bandwidth of a 256 MiB buffer, GB/s
  double bf16_gflops = 0; // bf16 dot-product (vdpbf16ps) peak; 0: none
  int threads = 1;
};

// About 0.3 s: FMA chains on the best SIMD target, then a streaming read.
Limits ProbeLimits(int threads);

// The vdpbf16ps peak over `threads` threads (probe_bf16.cc); 0 when the CPU
// has no AVX512_BF16.
double ProbeBf16DotPeak(int threads);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_PROBE_H_
