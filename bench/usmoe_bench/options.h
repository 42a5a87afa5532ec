// usmoe-bench: command-line options, presets and --help text.
#ifndef USMOE_BENCH_OPTIONS_H_
#define USMOE_BENCH_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "usmoe/usmoe.h"

namespace usmoe_bench {

struct Options {
  std::string preset = "olmoe";
  int64_t tokens = 4096;  // T
  int64_t experts = 64;   // N
  int64_t dim = 2048;     // d
  double k = 8.0;
  bool alpha_set = false;  // --alpha given: overrides every policy's default
  double alpha = 0.0;
  std::vector<usmoe_policy> policies = {USMOE_POLICY_TOKEN_CHOICE,
                                        USMOE_POLICY_EXPERT_CHOICE,
                                        USMOE_POLICY_UNIFIED};
  usmoe_dtype dtype = USMOE_DTYPE_F32;
  int32_t threads = 0;  // 0: OpenMP's default
  int64_t groups = 1;
  uint64_t seed = 1;
  bool iid = false;
  double min_time = 0.3;  // seconds per cell
  int64_t min_runs = 10;  // runs per cell
  std::string json_path;
  std::string csv_path;
};

// Parses argv into *opts. Returns 0 to go on, 1 when --help was printed
// (exit 0), 2 on a bad flag (the message was printed to stderr).
int ParseOptions(int argc, char** argv, Options* opts);

void PrintHelp(const char* argv0);

const char* PolicyName(usmoe_policy p);     // "tc", "ec", "unified"
const char* DtypeName(usmoe_dtype dtype);   // "f32", "bf16"

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_OPTIONS_H_
