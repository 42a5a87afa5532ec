// Expert executor: per expert, gather its tokens, run the FFN as three
// packed-panel GEMMs (the gate GEMM kernel: Y = X·Wᵀ), combine per token.
//
// Why the gate kernel: it already is a register-blocked, k-blocked f32 GEMM
// for Y = X·Wᵀ with W packed once into target-independent panels, and an
// expert's FFN is exactly that shape three times (W1, W3: f×d; W2: d×f).
// Determinism: every output row of an expert is computed by one thread in a
// fixed order, and each token sums its experts' rows in ascending expert
// order, so y does not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "src/exec/experts.h"
#include "src/gate/logits.h"
#include "src/runtime/threads.h"

namespace usmoe {

// One FFN's packed weights: f32 panels, or bf16 panels kept at half the
// bytes (decode streams every weight it touches once, so bytes are time).
struct PackedFfn {
  int64_t hidden = 0;
  bool bf16 = false;
  std::vector<float> w1, w3, w2;      // panels: f rows of d; f rows of d; d rows of f
  std::vector<uint16_t> b1, b3, b2;   // bf16 k-pairs (PackBf16Pairs)
};

class ExpertsImpl {
 public:
  ExpertsShape shape;
  std::vector<PackedFfn> experts;
  std::vector<PackedFfn> shared;
};

namespace {

void PackMatrix(const float* w, int64_t offset, int64_t rows, int64_t cols,
                std::vector<float>* out) {
  out->resize(PackedGateSize(rows, cols));
  PackGateWeight(w + offset, rows, cols, out->data());
}

void PackMatrix(const uint16_t* w, int64_t offset, int64_t rows, int64_t cols,
                std::vector<uint16_t>* out) {
  out->resize(PackedBf16PairsSize(rows, cols));
  PackBf16Pairs(w + offset, rows, cols, out->data());
}

void PackSet(int64_t count, int64_t f, int64_t d, bool gated, bool bf16, const void* w1,
             const void* w3, const void* w2, std::vector<PackedFfn>* out) {
  out->resize(count);
  for (int64_t e = 0; e < count; ++e) {
    PackedFfn& p = (*out)[e];
    p.hidden = f;
    p.bf16 = bf16;
    if (bf16) {
      const auto* b1 = static_cast<const uint16_t*>(w1);
      PackMatrix(b1, e * f * d, f, d, &p.b1);
      if (gated) PackMatrix(static_cast<const uint16_t*>(w3), e * f * d, f, d, &p.b3);
      PackMatrix(static_cast<const uint16_t*>(w2), e * d * f, d, f, &p.b2);
    } else {
      PackMatrix(static_cast<const float*>(w1), e * f * d, f, d, &p.w1);
      if (gated) PackMatrix(static_cast<const float*>(w3), e * f * d, f, d, &p.w3);
      PackMatrix(static_cast<const float*>(w2), e * d * f, d, f, &p.w2);
    }
  }
}

float Gelu(float x, bool erf_form) {
  if (erf_form) return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(u));
}

// h (n×f) = act(h1) (⊙ h3 for SwiGLU), in place in h1.
void Activate(Activation act, float* h1, const float* h3, int64_t n) {
  switch (act) {
    case Activation::kSwiGLU:
      for (int64_t i = 0; i < n; ++i) h1[i] = h1[i] / (1.0f + std::exp(-h1[i])) * h3[i];
      break;
    case Activation::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) h1[i] = Gelu(h1[i], false);
      break;
    case Activation::kGeluErf:
      for (int64_t i = 0; i < n; ++i) h1[i] = Gelu(h1[i], true);
      break;
    case Activation::kReLU:
      for (int64_t i = 0; i < n; ++i) h1[i] = h1[i] > 0.0f ? h1[i] : 0.0f;
      break;
  }
}

// out (rows×d) = FFN(x rows). h1, h3: rows×f scratch; xb: rows·max(d, f)
// bf16 scratch for the dot-product path.
//
// bf16 weights take the vdpbf16ps kernel where it is usable (twice the f32
// FMA rate): the activations are rounded to bf16 (nearest-even) first, as
// every bf16 GEMM library does. Elsewhere f32 activations meet the exactly
// widened weights, the same products as with f32 weights.
void RunFfn(const PackedFfn& p, Activation act, int64_t d, const float* x, int64_t rows,
            float* h1, float* h3, uint16_t* xb, float* out) {
  const int64_t f = p.hidden;
  if (p.bf16 && Bf16DotUsable()) {
    F32ToBf16Rne(x, rows * d, xb);
    PairsLogitsBf16Dot(xb, p.b1.data(), rows, f, d, h1);
    if (act == Activation::kSwiGLU) PairsLogitsBf16Dot(xb, p.b3.data(), rows, f, d, h3);
    Activate(act, h1, h3, rows * f);
    F32ToBf16Rne(h1, rows * f, xb);
    PairsLogitsBf16Dot(xb, p.b2.data(), rows, d, f, out);
    return;
  }
  if (p.bf16) {
    PairsLogitsF32(x, p.b1.data(), rows, f, d, h1);
    if (act == Activation::kSwiGLU) PairsLogitsF32(x, p.b3.data(), rows, f, d, h3);
    Activate(act, h1, h3, rows * f);
    PairsLogitsF32(h1, p.b2.data(), rows, d, f, out);
    return;
  }
  GateLogitsF32(x, p.w1.data(), rows, f, d, h1);
  if (act == Activation::kSwiGLU) GateLogitsF32(x, p.w3.data(), rows, f, d, h3);
  Activate(act, h1, h3, rows * f);
  GateLogitsF32(h1, p.w2.data(), rows, d, f, out);
}

}  // namespace

std::shared_ptr<const ExpertsImpl> PackExperts(const ExpertsShape& shape, bool bf16,
                                               const void* w1, const void* w3, const void* w2,
                                               const void* shared_w1, const void* shared_w3,
                                               const void* shared_w2) {
  auto impl = std::make_shared<ExpertsImpl>();
  impl->shape = shape;
  const bool gated = shape.activation == Activation::kSwiGLU;
  PackSet(shape.num_experts, shape.hidden, shape.dim, gated, bf16, w1, w3, w2, &impl->experts);
  if (shape.num_shared > 0)
    PackSet(shape.num_shared, shape.shared_hidden, shape.dim, gated, bf16, shared_w1, shared_w3,
            shared_w2, &impl->shared);
  return impl;
}

const ExpertsShape& ExpertsShapeOf(const ExpertsImpl& experts) { return experts.shape; }

void ExpertsForward(const ExpertsImpl& ex, const float* x, int64_t T, const PlanData& plan,
                    float* y) {
  const ExpertsShape& s = ex.shape;
  const int64_t N = s.num_experts, d = s.dim;
  const int64_t c = plan.num_selected;
  // Everything is allocated before y is touched.
  std::vector<float> routed(c * d);          // expert outputs, in plan order
  std::vector<int64_t> first(T + 1, 0), slots(c);
  int64_t max_rows = 0;
  for (int64_t e = 0; e < N; ++e) max_rows = std::max(max_rows, plan.expert_loads[e]);
  const int64_t fmax = std::max(s.hidden, s.num_shared > 0 ? s.shared_hidden : 0);
  const int threads = NumThreads();
  const int64_t per = max_rows * d + 2 * max_rows * fmax;
  std::vector<float> scratch(static_cast<size_t>(threads) * per);
  const int64_t per_b = max_rows * std::max(d, fmax);
  std::vector<uint16_t> scratch_b(static_cast<size_t>(threads) * per_b);
  std::vector<float> shared_out;
  if (s.num_shared > 0) shared_out.resize(T * d);

#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t e = 0; e < N; ++e) {
    const int64_t s0 = plan.expert_offsets[e], n = plan.expert_offsets[e + 1] - s0;
    if (n == 0) continue;
    float* xg = scratch.data() + omp_get_thread_num() * per;
    float* h1 = xg + max_rows * d;
    float* h3 = h1 + max_rows * fmax;
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(xg + i * d, x + plan.token_ids[s0 + i] * d, sizeof(float) * d);
    RunFfn(ex.experts[e], s.activation, d, xg, n, h1, h3,
           scratch_b.data() + omp_get_thread_num() * per_b, routed.data() + s0 * d);
  }
  if (s.num_shared > 0) {
    // Dense over all tokens: the kernel threads over token blocks itself.
    std::vector<float> h1(T * s.shared_hidden), h3(T * s.shared_hidden), o(T * d);
    std::vector<uint16_t> xb(T * std::max(d, s.shared_hidden));
    for (int64_t j = 0; j < s.num_shared; ++j) {
      RunFfn(ex.shared[j], s.activation, d, x, T, h1.data(), h3.data(), xb.data(), o.data());
      for (int64_t i = 0; i < T * d; ++i) shared_out[i] += o[i];
    }
  }
  // Per-token slot lists in ascending expert order (a counting sort).
  for (int64_t i = 0; i < c; ++i) ++first[plan.token_ids[i] + 1];
  for (int64_t t = 0; t < T; ++t) first[t + 1] += first[t];
  {
    std::vector<int64_t> fill(first.begin(), first.end() - 1);
    for (int64_t i = 0; i < c; ++i) slots[fill[plan.token_ids[i]]++] = i;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t t = 0; t < T; ++t) {
    float* yt = y + t * d;
    if (s.num_shared > 0) {
      std::memcpy(yt, shared_out.data() + t * d, sizeof(float) * d);
    } else {
      std::fill(yt, yt + d, 0.0f);
    }
    for (int64_t j = first[t]; j < first[t + 1]; ++j) {
      const int64_t slot = slots[j];
      const float w = plan.weights[slot];
      const float* o = routed.data() + slot * d;
      for (int64_t i = 0; i < d; ++i) yt[i] += w * o[i];
    }
  }
}

}  // namespace usmoe
