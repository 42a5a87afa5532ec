#include "src/plan/plan_build.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/runtime/threads.h"

namespace usmoe {
namespace {

// Bit i set iff byte i of sel[0..8) is nonzero: no branch per cell (a
// branch on each selected byte mispredicted about once per selected cell).
inline uint64_t ByteFlags(const uint8_t* sel) {
  constexpr uint64_t kLow7 = 0x7F7F7F7F7F7F7F7Full, kHigh = 0x8080808080808080ull;
  uint64_t w;
  std::memcpy(&w, sel, sizeof(w));
  const uint64_t ones = ((((w & kLow7) + kLow7) | w) & kHigh) >> 7;  // 0/1 per byte
  return (ones * 0x0102040810204080ull) >> 56;  // byte i -> bit i
}

// f(e) for each selected expert of a row, in ascending order.
template <class F>
inline void ForEachSelected(const uint8_t* sel, int64_t N, F f) {
  int64_t e0 = 0;
  for (; e0 + 8 <= N; e0 += 8) {
    for (uint64_t m = ByteFlags(sel + e0); m != 0; m &= m - 1)
      f(e0 + __builtin_ctzll(m));
  }
  for (; e0 < N; ++e0)
    if (sel[e0]) f(e0);
}

}  // namespace

// A counting sort by expert, in two parallel passes over fixed contiguous
// token blocks (count, then place from each block's own cursors), so the
// plan does not depend on the thread count. Token ids come out ascending
// within each expert, which also makes the plan independent of how the
// selection was computed.
void BuildPlan(const uint8_t* selected, const float* scores, int64_t T, int64_t N,
               GateNorm norm, bool token_view, PlanData* plan) {
  const bool parallel = T * N > (int64_t{1} << 15);
  const int64_t blocks = parallel ? std::min<int64_t>(NumThreads(), T) : 1;
  plan->num_tokens = T;
  plan->num_experts = N;
  plan->token_counts.assign(T, 0);
  std::vector<int64_t> cursors(blocks * N, 0);  // per block: loads, then cursors
  const int threads = SplitThreads(parallel && blocks > 1);
  ParallelFor(threads, blocks, false, [&](int64_t b, int) {
    int64_t* loads = cursors.data() + b * N;
    for (int64_t t = T * b / blocks; t < T * (b + 1) / blocks; ++t) {
      int64_t count = 0;
      ForEachSelected(selected + t * N, N, [&](int64_t e) {
        ++loads[e];
        ++count;
      });
      plan->token_counts[t] = count;
    }
  });
  plan->expert_loads.assign(N, 0);
  plan->expert_offsets.resize(N + 1);
  plan->expert_offsets[0] = 0;
  for (int64_t e = 0; e < N; ++e) {
    int64_t at = 0;
    for (int64_t b = 0; b < blocks; ++b) at += cursors[b * N + e];
    plan->expert_loads[e] = at;
    plan->expert_offsets[e + 1] = plan->expert_offsets[e] + at;
  }
  for (int64_t e = 0; e < N; ++e) {
    int64_t at = plan->expert_offsets[e];
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t load = cursors[b * N + e];
      cursors[b * N + e] = at;
      at += load;
    }
  }
  const int64_t c = plan->expert_offsets[N];
  plan->num_selected = c;
  plan->token_ids.resize(c);
  plan->weights.resize(c);

  plan->has_token_view = token_view;
  if (token_view) {
    plan->token_offsets.resize(T + 1);
    plan->token_experts.resize(c);
    plan->token_weights.resize(c);
    plan->token_offsets[0] = 0;
    for (int64_t t = 0; t < T; ++t)
      plan->token_offsets[t + 1] = plan->token_offsets[t] + plan->token_counts[t];
  } else {
    plan->token_offsets.clear();
    plan->token_experts.clear();
    plan->token_weights.clear();
  }

  ParallelFor(threads, blocks, false, [&](int64_t b, int) {
    int64_t* cursor = cursors.data() + b * N;
    for (int64_t t = T * b / blocks; t < T * (b + 1) / blocks; ++t) {
      if (plan->token_counts[t] == 0) continue;
      const uint8_t* sel = selected + t * N;
      const float* row = scores + t * N;
      // Sums in double: the normalised weights then carry one f32 rounding.
      double denom = 1.0;
      if (norm == GateNorm::kSelected) {
        denom = 0.0;
        ForEachSelected(sel, N, [&](int64_t e) { denom += row[e]; });
      } else if (norm == GateNorm::kAll) {
        denom = 0.0;
        for (int64_t e = 0; e < N; ++e) denom += row[e];
      }
      // A zero sum (every score underflowed) leaves the weights unnormalised
      // rather than dividing by zero.
      const bool divide = norm != GateNorm::kNone && denom > 0.0;
      int64_t tv = token_view ? plan->token_offsets[t] : 0;
      ForEachSelected(sel, N, [&](int64_t e) {
        const float w = divide ? static_cast<float>(row[e] / denom) : row[e];
        const int64_t slot = cursor[e]++;
        plan->token_ids[slot] = t;
        plan->weights[slot] = w;
        if (token_view) {
          plan->token_experts[tv] = e;
          plan->token_weights[tv] = w;
          ++tv;
        }
      });
    }
  });
}

}  // namespace usmoe
