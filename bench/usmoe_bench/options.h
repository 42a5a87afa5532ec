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
  std::string stage = "route";  // route | plan | select | moe | all
  int64_t tokens = 4096;  // T (the first of tokens_list)
  // --tokens T1,T2,...: one run of every stage per T. Empty: the stage's
  // default (route: the preset's T; moe: 1, 32, 512).
  std::vector<int64_t> tokens_list;
  int64_t experts = 64;   // N
  int64_t dim = 2048;     // d
  double k = 8.0;
  int64_t hidden = 1024;       // f: intermediate size of a routed expert (moe)
  int64_t shared = 0;          // shared experts (moe)
  int64_t shared_hidden = 0;   // their intermediate size (0: = hidden)
  usmoe_backend backend = USMOE_BACKEND_AUTO;  // moe: the experts' GEMM backend
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
  std::string plot_dir;  // --plot DIR: JSON, assignment map and pictures
  bool torch = true;     // --no-torch: skip the PyTorch peers

  // The T values the given stage runs at.
  std::vector<int64_t> TokensFor(const std::string& stage_name) const;
};

// Parses argv into *opts. Returns 0 to go on, 1 when --help was printed
// (exit 0), 2 on a bad flag (the message was printed to stderr).
int ParseOptions(int argc, char** argv, Options* opts);

void PrintHelp(const char* argv0);

const char* PolicyName(usmoe_policy p);     // "tc", "ec", "unified"
const char* DtypeName(usmoe_dtype dtype);   // "f32", "bf16"

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_OPTIONS_H_
