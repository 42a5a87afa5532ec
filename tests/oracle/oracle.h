// The test oracle: an independent, deliberately simple scalar reference for
// every stage of usmoe, in double precision. It shares no code with src/ or
// capi/ (it includes only the standard library); clarity over speed:
// selection is a full sort with the documented comparator.
//
// Conventions follow DESIGN.md §1: row-major T×N matrices, flat index of
// cell (t, e) is t*N + e; groups are given by their sizes (empty vector =
// one group of all T tokens); a validity mask is T bytes, 0 = padding
// (empty vector = all valid).
#ifndef USMOE_TESTS_ORACLE_ORACLE_H_
#define USMOE_TESTS_ORACLE_ORACLE_H_

#include <cstdint>
#include <vector>

namespace oracle {

enum class ExpertScore { kSigmoid, kSoftmaxTokens };
enum class Policy { kTokenChoice, kExpertChoice, kUnified };
enum class GateNorm { kNone, kSelected, kAll };
enum class Activation { kSwiGLU, kGeluTanh, kGeluErf, kReLU };

// bf16 bit pattern -> exact double value.
double Bf16ToDouble(uint16_t bits);

// ---------------------------------------------------------------- logits
// L = X Wᵀ (T×N), products and sums in double from the exact input values.
std::vector<double> Logits(const float* x, const float* w, int64_t T, int64_t N, int64_t d);
std::vector<double> LogitsBf16(const uint16_t* x, const uint16_t* w, int64_t T, int64_t N,
                               int64_t d);
// Σ_i |x_ti|·|w_ei| per cell: the scale of the rounding error of a dot product.
std::vector<double> LogitsAbsScale(const float* x, const float* w, int64_t T, int64_t N,
                                   int64_t d);

// ---------------------------------------------------------------- scores
// Token-choice score: softmax over the N experts of each row (max subtracted).
std::vector<double> SoftmaxRows(const std::vector<double>& L, int64_t T, int64_t N);
// Expert-side score sigmoid(L)·2/N, stable for large |L|.
std::vector<double> SigmoidScore(const std::vector<double>& L, int64_t T, int64_t N);
// Expert-side score softmax over the valid tokens of each group, per column;
// padding tokens get 0.
std::vector<double> SoftmaxTokens(const std::vector<double>& L, int64_t T, int64_t N,
                                  const std::vector<int64_t>& group_sizes,
                                  const std::vector<uint8_t>& valid);
// U = (1-α)·f_t + α·f_e.
std::vector<double> UnifiedScores(const std::vector<double>& L, int64_t T, int64_t N,
                                  double alpha, ExpertScore expert_score,
                                  const std::vector<int64_t>& group_sizes,
                                  const std::vector<uint8_t>& valid);

// ------------------------------------------------------------- selection
// Budgets exactly as documented (Tv = valid tokens of the group).
int64_t ExpertChoiceCapacity(double capacity_factor, double k, int64_t Tv, int64_t N);
int64_t UnifiedBudget(double k, int64_t Tv, int64_t N);

// The comparator of every selection: higher score first; equal scores
// (-0.0 == +0.0): lower flat index first.
bool Before(float score_a, int64_t index_a, float score_b, int64_t index_b);

// Indices of the c best of values[0..n) under Before, ascending.
std::vector<int64_t> TopCGlobal(const float* values, int64_t n, int64_t c);
// Each row's k best experts, best first (row t at [t*k, t*k+k)).
void TopKRows(const float* scores, int64_t T, int64_t N, int64_t k,
              std::vector<int64_t>* ids, std::vector<float>* values);
// Each column's C best tokens, best first (column e at [e*C, e*C+C)).
void TopCCols(const float* scores, int64_t T, int64_t N, int64_t C,
              std::vector<int64_t>* ids, std::vector<float>* values);

// Selection mask (T*N bytes, 1 = selected) of a policy applied to given f32
// scores. For TOKEN_CHOICE, k must be an integer.
std::vector<uint8_t> Select(Policy policy, const float* scores, int64_t T, int64_t N,
                            double k, double capacity_factor,
                            const std::vector<int64_t>& group_sizes,
                            const std::vector<uint8_t>& valid);

// ------------------------------------------------------------------ plan
struct Plan {
  int64_t T = 0, N = 0;
  std::vector<int64_t> expert_offsets;  // N+1
  std::vector<int64_t> token_ids;       // c, ascending within expert
  std::vector<double> weights;          // c
  std::vector<int64_t> token_counts;    // T
  std::vector<int64_t> expert_loads;    // N
  std::vector<int64_t> token_offsets;   // T+1
  std::vector<int64_t> token_experts;   // c, ascending within token
  std::vector<double> token_weights;    // c
};

// The plan of a selection mask; gate weights from the given f32 scores.
Plan BuildPlan(const std::vector<uint8_t>& selected, const float* scores, int64_t T,
               int64_t N, GateNorm norm);

// --------------------------------------------------------------- experts
// One expert's FFN on one token, in double. w1, w3: f×d; w2: d×f (values
// already decoded to double). w3 is used only by SwiGLU.
std::vector<double> Ffn(Activation act, const double* w1, const double* w3, const double* w2,
                        int64_t d, int64_t f, const float* x);

// y_t = Σ_{entries of t} weight·FFN_e(x_t) + Σ_shared FFN_s(x_t), T×d.
// Routed weights N×f×d / N×d×f; shared: S×fs×d / S×d×fs (S may be 0).
std::vector<double> ExpertsForward(Activation act, int64_t N, int64_t d, int64_t f,
                                   const std::vector<double>& w1,
                                   const std::vector<double>& w3,
                                   const std::vector<double>& w2, int64_t S, int64_t fs,
                                   const std::vector<double>& sw1,
                                   const std::vector<double>& sw3,
                                   const std::vector<double>& sw2, const float* x, int64_t T,
                                   const int64_t* expert_offsets, const int64_t* token_ids,
                                   const float* weights);

}  // namespace oracle

#endif  // USMOE_TESTS_ORACLE_ORACLE_H_
