// Expert executor: packed FFN weights and the grouped-GEMM forward pass.
// Arguments are validated in capi/; these functions assume valid sizes.
#ifndef USMOE_SRC_EXEC_EXPERTS_H_
#define USMOE_SRC_EXEC_EXPERTS_H_

#include <cstdint>
#include <memory>

#include "src/plan/plan_data.h"

namespace usmoe {

enum class Activation : int32_t { kSwiGLU = 0, kGeluTanh = 1, kGeluErf = 2, kReLU = 3 };

// The GEMM backend (values of usmoe_backend). kAuto is resolved by
// ResolveBackend before packing.
enum class Backend : int32_t { kAuto = 0, kHighway = 1, kOneDnn = 2 };

struct ExpertsShape {
  int64_t num_experts = 0;  // N
  int64_t dim = 0;          // d
  int64_t hidden = 0;       // f
  Activation activation = Activation::kSwiGLU;
  int64_t num_shared = 0;
  int64_t shared_hidden = 0;
};

// Whether this build has the oneDNN backend.
bool OneDnnBackendBuilt();

// kAuto -> kOneDnn for bf16 weights where built, kHighway otherwise (see
// the measurements in experts_pack.cc); others unchanged.
Backend ResolveBackend(Backend requested, bool bf16);

class ExpertsImpl;  // packed weights, defined in src/exec/experts_impl.h

// Packs the weights (f32, or bf16 bit patterns when bf16 is true) into the
// layout of `backend` (resolved; kOneDnn only when OneDnnBackendBuilt()).
// w3/shared_w3 are null unless SwiGLU; shared_* null when num_shared == 0.
// Throws std::bad_alloc on allocation failure, std::runtime_error when
// oneDNN fails.
std::shared_ptr<const ExpertsImpl> PackExperts(const ExpertsShape& shape, bool bf16,
                                               Backend backend, const void* w1,
                                               const void* w3, const void* w2,
                                               const void* shared_w1,
                                               const void* shared_w3,
                                               const void* shared_w2);

const ExpertsShape& ExpertsShapeOf(const ExpertsImpl& experts);

// y (T×d, fully overwritten) = Σ_e w_te FFN_e(x_t) + Σ_s FFN_s(x_t).
// plan.num_tokens == T, plan.num_experts == N; x, y do not overlap.
// Deterministic: the result does not depend on the thread count.
// Throws (std::bad_alloc, std::runtime_error) before y is written.
void ExpertsForward(const ExpertsImpl& experts, const float* x, int64_t num_tokens,
                    const PlanData& plan, float* y);

}  // namespace usmoe

#endif  // USMOE_SRC_EXEC_EXPERTS_H_
