// The thread count usmoe's own OpenMP regions use.
#ifndef USMOE_SRC_RUNTIME_THREADS_H_
#define USMOE_SRC_RUNTIME_THREADS_H_

#include <cstdint>

namespace usmoe {

// 0 means "OpenMP's default" (omp_get_max_threads at call time).
void SetNumThreads(int32_t n);
int32_t NumThreads();

}  // namespace usmoe

#endif  // USMOE_SRC_RUNTIME_THREADS_H_
