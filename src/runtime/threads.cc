#include "src/runtime/threads.h"

#include <omp.h>

#include <atomic>

namespace usmoe {
namespace {
// Process-wide, like omp_set_num_threads, but it does not change the
// caller's own OpenMP setting (a host application may run its own pool).
std::atomic<int32_t> g_num_threads{0};
}  // namespace

void SetNumThreads(int32_t n) { g_num_threads.store(n, std::memory_order_relaxed); }

int32_t NumThreads() {
  const int32_t n = g_num_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
  const int m = omp_get_max_threads();
  return m > 0 ? m : 1;
}

}  // namespace usmoe
