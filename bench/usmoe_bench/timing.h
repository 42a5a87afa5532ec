// usmoe-bench: repeated timing of one cell (wall clock and process CPU time).
#ifndef USMOE_BENCH_TIMING_H_
#define USMOE_BENCH_TIMING_H_

#include <cstdint>
#include <functional>
#include <string>

namespace usmoe_bench {

struct Stats {
  int64_t runs = 0;
  double median_ns = 0, min_ns = 0, max_ns = 0;  // wall clock per run
  double cpu_median_ns = 0;                       // process CPU time per run
  bool ok = false;
  std::string error;  // set when the function failed (ok = false)
};

struct TimingPolicy {
  double min_time_s = 0.3;
  int64_t min_runs = 10;
};

// A timed function returns "" on success or an error message; the first
// error stops its cell.
using Timed = std::function<std::string()>;

// One untimed warm-up call, then timed calls until the calls have taken at
// least min_time_s in total AND min_runs calls were made; a cell slower than
// that stops after 3 runs once it has taken 10*min_time_s (at least 1 s).
Stats Measure(const Timed& fn, const TimingPolicy& policy);

// Two cells measured interleaved (usmoe and its baseline): after both
// warm-ups, the next run always goes to the cell with less time spent so
// far, so both see the same machine conditions (frequency, other
// processes) and their ratio stays meaningful on a busy machine. Each cell
// stops on the rule of Measure.
void MeasurePair(const Timed& a, const Timed& b, const TimingPolicy& policy,
                 Stats* sa, Stats* sb);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_TIMING_H_
