// usmoe-bench: the MoE-layer stage. X -> usmoe_route -> usmoe_experts_forward
// -> y, against a oneDNN pipeline measured in the same run: the route
// baseline (oneDNN gate, scalar scores, std selection, plan) followed by
// three oneDNN matmuls per expert on the gathered rows, SwiGLU, and a
// weighted scatter-add.
#ifndef USMOE_BENCH_MOE_STAGE_H_
#define USMOE_BENCH_MOE_STAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "options.h"
#include "report.h"
#include "timing.h"
#include "usmoe/usmoe.h"
#include "workloads.h"

namespace usmoe_bench {

// Expert weights of the layer, seeded: W1, W3 ~ U(-a, a) with a = sqrt(3/d)
// and W2 ~ U(-b, b) with b = sqrt(3/f), so activations stay O(1).
struct MoeWeights {
  int64_t N = 0, d = 0, f = 0, S = 0, fs = 0;
  usmoe_dtype dtype = USMOE_DTYPE_F32;
  // f32 values (bf16-rounded when dtype is bf16): w1, w3: N×f×d; w2: N×d×f;
  // shared: S×fs×d, S×fs×d, S×d×fs.
  std::vector<float> w1, w3, w2, sw1, sw3, sw2;
  std::vector<uint16_t> w1b, w3b, w2b, sw1b, sw3b, sw2b;  // bf16 patterns
  const void* Ptr(const std::vector<float>& v, const std::vector<uint16_t>& b) const {
    if (v.empty()) return nullptr;
    return dtype == USMOE_DTYPE_BF16 ? static_cast<const void*>(b.data())
                                     : static_cast<const void*>(v.data());
  }
};

MoeWeights MakeMoeWeights(const Options& o);

// Active FLOPs of one forward: 2·3·d·f per selected (token, expert) pair
// plus 2·3·d·fs per token and shared expert (the gate GEMM not counted).
double MoeFlops(const MoeWeights& w, int64_t T, int64_t pairs);
// Weight bytes a forward must read at least once: the experts it hits and
// the shared experts.
double MoeWeightBytes(const MoeWeights& w, int64_t experts_hit);

// One row "moe" for (T of wl, policy). y receives our output (for peers).
// experts: created once from w by the caller.
Row RunMoeStage(const Options& o, const Workload& wl, const MoeWeights& w,
                const usmoe_experts* experts, usmoe_policy policy, const TimingPolicy& tp,
                std::vector<float>* y);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_MOE_STAGE_H_
