// Expert executor, forward pass: gather each expert's tokens, run the FFN
// segments on the backend, combine per token.
//
// Determinism: every FFN output row is a function of its input row and the
// packed weights only (see FfnBackend::Run), and each token sums its
// experts' rows in ascending expert order, so y does not depend on the
// thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/exec/experts_activation.h"
#include "src/exec/experts_impl.h"
#include "src/runtime/threads.h"

namespace usmoe {
namespace {

// Workspace slots.
enum Slot : size_t { kGathered, kSharedX, kHidden, kRouted, kSharedOut, kSlots };

}  // namespace

void ExpertsForward(const ExpertsImpl& ex, const float* x, int64_t T, const PlanData& plan,
                    float* y) {
  const ExpertsShape& s = ex.shape;
  const int64_t N = s.num_experts, d = s.dim, f = s.hidden, S = s.num_shared;
  const int64_t fs = S > 0 ? s.shared_hidden : 0;
  const int64_t c = plan.num_selected;
  const bool bf16 = ex.ffn->Bf16Activations();
  const size_t act = bf16 ? sizeof(uint16_t) : sizeof(float);
  const int threads = NumThreads();

  // Everything is allocated before y is touched (Get throws bad_alloc).
  ExpertsImpl::Lease lease = ex.Acquire();
  Workspace& ws = *lease;
  auto bytes = [](int64_t n, size_t elem) { return static_cast<size_t>(std::max<int64_t>(n, 1)) * elem; };
  uint8_t* xg = static_cast<uint8_t*>(ws.Get(kGathered, bytes(c * d, act)));
  uint8_t* hid = static_cast<uint8_t*>(ws.Get(kHidden, bytes(c * f + S * T * fs, act)));
  float* routed = static_cast<float*>(ws.Get(kRouted, bytes(c * d, sizeof(float))));
  float* shared_out = static_cast<float*>(ws.Get(kSharedOut, bytes(S * T * d, sizeof(float))));
  const void* xs = x;  // the shared experts' input: all tokens
  uint8_t* xs_bf16 = bf16 && S > 0 ? static_cast<uint8_t*>(ws.Get(kSharedX, bytes(T * d, act)))
                                   : nullptr;
  std::vector<FfnSegment> segs;
  segs.reserve(static_cast<size_t>(N + S));
  std::vector<int64_t> first(T + 1, 0), slots(c), fill(T);

  // Gather (and round to bf16 where the backend's GEMMs take bf16).
  ParallelFor(SplitThreads(c * d > (1 << 16)), c, false, [&](int64_t i, int) {
    const float* src = x + plan.token_ids[i] * d;
    if (bf16) {
      RoundToBf16(src, d, reinterpret_cast<uint16_t*>(xg) + i * d);
    } else {
      std::memcpy(reinterpret_cast<float*>(xg) + i * d, src, sizeof(float) * d);
    }
  });
  if (xs_bf16) {
    RoundToBf16(x, T * d, reinterpret_cast<uint16_t*>(xs_bf16));
    xs = xs_bf16;
  }
  for (int64_t e = 0; e < N; ++e) {
    const int64_t s0 = plan.expert_offsets[e], n = plan.expert_offsets[e + 1] - s0;
    if (n > 0) segs.push_back(FfnSegment{e, n, f, xg + s0 * d * act, hid + s0 * f * act, routed + s0 * d});
  }
  for (int64_t j = 0; j < S; ++j)
    segs.push_back(FfnSegment{N + j, T, fs, xs, hid + (c * f + j * T * fs) * act,
                              shared_out + j * T * d});
  ex.ffn->Run(segs.data(), static_cast<int64_t>(segs.size()), threads);

  // Per-token slot lists in ascending expert order (a counting sort).
  for (int64_t i = 0; i < c; ++i) ++first[plan.token_ids[i] + 1];
  for (int64_t t = 0; t < T; ++t) first[t + 1] += first[t];
  std::copy(first.begin(), first.end() - 1, fill.begin());
  for (int64_t i = 0; i < c; ++i) slots[fill[plan.token_ids[i]]++] = i;
  ParallelFor(SplitThreads(T * d > (1 << 14)), T, false, [&](int64_t t, int) {
    float* yt = y + t * d;
    std::fill(yt, yt + d, 0.0f);
    for (int64_t j = 0; j < S; ++j) {
      const float* o = shared_out + (j * T + t) * d;
      for (int64_t i = 0; i < d; ++i) yt[i] += o[i];
    }
    for (int64_t j = first[t]; j < first[t + 1]; ++j) {
      const int64_t slot = slots[j];
      const float w = plan.weights[slot];
      const float* o = routed + slot * d;
      for (int64_t i = 0; i < d; ++i) yt[i] += w * o[i];
    }
  });
}

}  // namespace usmoe
