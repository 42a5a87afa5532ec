// The thread count usmoe's own OpenMP regions use, and the one way they
// enter a region.
#ifndef USMOE_SRC_RUNTIME_THREADS_H_
#define USMOE_SRC_RUNTIME_THREADS_H_

#include <omp.h>

#include <cstdint>

namespace usmoe {

// 0 means "OpenMP's default" (omp_get_max_threads at call time).
void SetNumThreads(int32_t n);
int32_t NumThreads();

// The threads a stage splits over: NumThreads() when the work is worth it,
// else 1; 1 inside an active parallel region too (a nested region would get
// a team of one anyway).
inline int SplitThreads(bool worth_it) {
  if (!worth_it) return 1;
  const int threads = NumThreads();
  return threads > 1 && !omp_in_parallel() ? threads : 1;
}

// body(i, me) for i in [0, n), me the worker's index in [0, threads). With
// one thread it runs on the calling thread without entering an OpenMP
// region: libgomp builds a team even for one thread or a false `if` clause,
// 1.2 us a region on this VM (measured), and a route of 64×8×512 entered
// 6-8 of them, half its time.
template <typename Body>
void ParallelFor(int threads, int64_t n, bool dynamic, const Body& body) {
  if (threads <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) body(i, 0);
    return;
  }
  if (dynamic) {
#pragma omp parallel for schedule(dynamic) num_threads(threads)
    for (int64_t i = 0; i < n; ++i) body(i, omp_get_thread_num());
  } else {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; ++i) body(i, omp_get_thread_num());
  }
}

}  // namespace usmoe

#endif  // USMOE_SRC_RUNTIME_THREADS_H_
