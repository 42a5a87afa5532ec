// Scores: f_t (softmax over experts), f_e (sigmoid·2/N or softmax over the
// group's valid tokens) and the unified score U = (1-α)·f_t + α·f_e.
#ifndef USMOE_SRC_SCORES_SCORES_H_
#define USMOE_SRC_SCORES_SCORES_H_

#include <cstdint>

namespace usmoe {

// logits, scores: T×N f32. group_offsets: G+1 row offsets (0 .. T).
// valid: T bytes (0 = padding) or null. Padding rows get f_e = 0 under the
// softmax-over-tokens variant; under sigmoid f_e is element-wise and padding
// rows are scored like any other (selection ignores them anyway).
void ComputeScores(const float* logits, int64_t num_tokens, int64_t num_experts,
                   float alpha, bool softmax_tokens, const int64_t* group_offsets,
                   int64_t num_groups, const uint8_t* valid, float* scores);

// ComputeScores in two parts, for callers that fuse the first into the gate
// GEMM (route_pipeline.cc). Rows only, serial, any row range: U = (1-α)·f_t,
// plus α·f_e when f_e is the sigmoid.
void ComputeRowScores(const float* logits, int64_t num_tokens, int64_t num_experts,
                      float alpha, bool softmax_tokens, float* scores);
// Then, under the softmax-over-tokens variant only: adds α·f_e per group
// (needs every row of the group). Threads over (group, column block).
void AddTokenSoftmax(const float* logits, int64_t num_tokens, int64_t num_experts,
                     float alpha, const int64_t* group_offsets, int64_t num_groups,
                     const uint8_t* valid, float* scores);

}  // namespace usmoe

#endif  // USMOE_SRC_SCORES_SCORES_H_
