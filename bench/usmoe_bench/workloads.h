// usmoe-bench: seeded inputs (X, W), bf16 rounding, group sizes and the
// per-policy budgets of the routing semantics.
#ifndef USMOE_BENCH_WORKLOADS_H_
#define USMOE_BENCH_WORKLOADS_H_

#include <cstdint>
#include <vector>

#include "options.h"
#include "usmoe/usmoe.h"

namespace usmoe_bench {

struct Workload {
  int64_t T = 0, N = 0, d = 0;
  usmoe_dtype dtype = USMOE_DTYPE_F32;
  std::vector<float> x, w;               // T×d, N×d (f32; bf16-rounded values
                                         // when dtype is bf16)
  std::vector<uint16_t> x_bf16, w_bf16;  // the same as bf16 bit patterns
  std::vector<float> expert_scale;       // s_e of the skewed distribution
  std::vector<int64_t> group_sizes;      // G sizes summing to T
  std::vector<int64_t> group_starts;     // first token of each group

  const void* x_ptr() const {
    return dtype == USMOE_DTYPE_BF16 ? static_cast<const void*>(x_bf16.data())
                                     : static_cast<const void*>(x.data());
  }
  const void* w_ptr() const {
    return dtype == USMOE_DTYPE_BF16 ? static_cast<const void*>(w_bf16.data())
                                     : static_cast<const void*>(w.data());
  }
};

// Builds the inputs described in --help (distribution section).
Workload MakeWorkload(const Options& opts);

// f32 -> bf16, round to nearest, ties to even (finite inputs).
uint16_t F32ToBf16(float f);
float Bf16ToF32(uint16_t h);

// Alpha of the policy: --alpha if given, else the router default.
double PolicyAlpha(const Options& opts, usmoe_policy policy);

// Per-group sizes of the selection: EC capacity C, UNIFIED budget c.
int64_t EcCapacity(double k, int64_t group_tokens, int64_t N);
int64_t UnifiedBudget(double k, int64_t group_tokens, int64_t N);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_WORKLOADS_H_
