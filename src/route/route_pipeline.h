// The routing pipeline: X -> logits -> scores -> selection -> plan.
// Arguments are validated in capi/ before anything here runs.
#ifndef USMOE_SRC_ROUTE_ROUTE_PIPELINE_H_
#define USMOE_SRC_ROUTE_ROUTE_PIPELINE_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "src/plan/plan_build.h"
#include "src/plan/plan_data.h"
#include "src/select/select_columns.h"
#include "src/select/topc_global.h"

namespace usmoe {

enum class Policy : int32_t { kTokenChoice = 0, kExpertChoice = 1, kUnified = 2 };

struct RouterSpec {
  int64_t num_experts = 0;
  int64_t dim = 0;
  Policy policy = Policy::kUnified;
  bool bf16 = false;
  double k = 8.0;
  double alpha = 0.5;
  double capacity_factor = 1.0;
  bool softmax_tokens = false;
  GateNorm gate_norm = GateNorm::kNone;
  bool keep_scores = false;
  bool token_view = false;
};

// Buffers one route needs, kept with the plan so repeated routes into the
// same plan allocate nothing.
struct RouteScratch {
  std::vector<float> logits;
  std::vector<float> scores;
  std::vector<uint8_t> selected;
  ColumnSelectScratch ec;           // EC: the group's columns and per-thread buffers
  std::vector<int64_t> row_of;      // EC: valid index -> token row
  std::vector<uint32_t> keys;
  std::vector<TopCScratch> topc;   // one per thread
  std::vector<uint32_t> picked;    // selected indices, one slice per thread
  std::vector<int64_t> ids;
  std::vector<float> values;
};

// Where the first NaN/Inf was found. kind: 0 none, 1 in x (col = feature),
// 2 in the logits (col = expert).
struct NonFiniteAt {
  int kind = 0;
  int64_t row = 0;
  int64_t col = 0;
};

// First non-finite value of a rows×cols f32 matrix in row-major order.
bool FindNonFinite(const float* m, int64_t rows, int64_t cols, int64_t* row, int64_t* col);
// The same for bf16 bit patterns.
bool FindNonFiniteBf16(const uint16_t* m, int64_t rows, int64_t cols, int64_t* row,
                       int64_t* col);

// Finds the first token whose logits row is non-finite. A NaN/Inf in x_t
// always poisons every logit of row t (Inf·w is ±Inf or NaN, NaN spreads),
// so scanning L detects bad X too, without a second pass over X; x_t alone
// is then scanned to name the feature. W is finite (checked at create).
// x is f32, or bf16 bit patterns when bf16 is set.
NonFiniteAt LocateNonFinite(const void* x, bool bf16, const float* logits, int64_t num_tokens,
                            int64_t num_experts, int64_t dim);

// Per-group budgets, exactly as the header documents them.
int64_t ExpertCapacity(double capacity_factor, double k, int64_t valid_tokens,
                       int64_t num_experts);
int64_t UnifiedBudget(double k, int64_t valid_tokens, int64_t num_experts);

// L = X·Wᵀ for a router's dtype: f32 X with W packed by PackGateWeight, or
// bf16 X with W packed by PackBf16Pairs (GemmBf16: vdpbf16ps where usable,
// else exact widening; see src/gemm/gemm_bf16.h).
void GateLogits(bool bf16, const void* x, const void* w, int64_t T, int64_t N, int64_t d,
                float* logits);

// w: the router weight packed by PackGateWeight (f32), or by PackBf16Pairs
// (bf16 routers). group_offsets: G+1 entries.
// On success fills *out (every field) and returns kind 0; on non-finite
// input returns where, and *out is untouched.
NonFiniteAt RoutePipeline(const RouterSpec& spec, const void* w, const void* x,
                          int64_t num_tokens, const int64_t* group_offsets,
                          int64_t num_groups, const uint8_t* valid,
                          RouteScratch* scratch, PlanData* out);

}  // namespace usmoe

#endif  // USMOE_SRC_ROUTE_ROUTE_PIPELINE_H_
