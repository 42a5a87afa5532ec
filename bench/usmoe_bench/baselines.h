// usmoe-bench: the baselines the library is compared with in the same run.
// Plain, readable C++ (std::partial_sort / std::nth_element on
// (score, index) pairs, std::exp) parallelised with OpenMP the obvious way,
// and oneDNN's f32/bf16 matmul for the gate GEMM.
#ifndef USMOE_BENCH_BASELINES_H_
#define USMOE_BENCH_BASELINES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "usmoe/usmoe.h"

namespace usmoe_bench {

// U = (1-alpha)·softmax_row(L) + alpha·sigmoid(L)·2/N, scalar, OpenMP over rows.
void BaselineScores(const float* logits, int64_t T, int64_t N, double alpha,
                    float* scores);

// Same contract as usmoe_topk_rows: per row the k best, descending, ties:
// lower expert first. std::partial_sort per row, OpenMP over rows.
void BaselineTopkRows(const float* scores, int64_t T, int64_t N, int64_t k,
                      int64_t* expert_ids, float* values);

// Same contract as usmoe_topc_cols: per column the C best, descending, ties:
// lower token first. std::nth_element + std::sort of the C winners per
// column, OpenMP over columns.
void BaselineTopcCols(const float* scores, int64_t T, int64_t N, int64_t C,
                      int64_t* token_ids, float* values);

// Same contract as usmoe_topc_global: flat indices of the c best (ties:
// lower index), ascending index order. std::nth_element over (value, index)
// pairs, then std::sort of the c indices. Single-threaded.
void BaselineTopcGlobal(const float* values, int64_t n, int64_t c,
                        int64_t* indices);

// The routing plan as the baseline pipeline builds it (gate norm none).
struct BasePlan {
  std::vector<int64_t> offsets;     // N+1
  std::vector<int64_t> token_ids;   // ascending within each expert
  std::vector<float> weights;
  std::vector<int64_t> token_counts;
};

// Scratch reused across calls so the timed loop does not allocate.
struct SelectScratch {
  std::vector<int64_t> ids;
  std::vector<float> vals;
  std::vector<uint8_t> mask;
  std::vector<int64_t> cursor;
};

// Selection (std baselines above, per group) + counting-sort plan from
// precomputed scores U (T×N). policy/k as in the router config.
void BaselineSelectAndPlan(const float* scores, int64_t T, int64_t N,
                           usmoe_policy policy, double k,
                           const std::vector<int64_t>& group_sizes,
                           SelectScratch* scratch, BasePlan* plan);

// oneDNN matmul L = X·Wᵀ (T×d · d×N -> T×N f32), X and W of dtype.
// Without oneDNN in the build every method reports "skipped (no oneDNN)".
class OnednnGate {
 public:
  OnednnGate();
  ~OnednnGate();
  // prepack: weights in the layout oneDNN prefers (reordered once, here);
  // otherwise W is used in place as the d×N matrix with strides (1, d).
  // Returns "" or an error message.
  std::string Init(int64_t T, int64_t N, int64_t d, usmoe_dtype dtype,
                   const void* w, bool prepack);
  std::string Run(const void* x, float* logits);
  std::string ImplName() const;  // e.g. "brg:avx512_core"
  static bool Available();
  static std::string Version();  // "2.6.3" or ""

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_BASELINES_H_
