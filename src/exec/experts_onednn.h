// The oneDNN backend of the expert executor (built with USMOE_WITH_ONEDNN).
#ifndef USMOE_SRC_EXEC_EXPERTS_ONEDNN_H_
#define USMOE_SRC_EXEC_EXPERTS_ONEDNN_H_

#include <memory>

#include "src/exec/experts_impl.h"

namespace usmoe {

// Reorders every FFN's weights once into oneDNN's preferred blocked layout
// (f32, or bf16 for bf16 weights). Throws std::bad_alloc, or
// std::runtime_error carrying oneDNN's message.
std::unique_ptr<FfnBackend> MakeOneDnnBackend(const ExpertsShape& shape, bool bf16,
                                              const void* w1, const void* w3, const void* w2,
                                              const void* shared_w1, const void* shared_w3,
                                              const void* shared_w2);

}  // namespace usmoe

#endif  // USMOE_SRC_EXEC_EXPERTS_ONEDNN_H_
