#include "src/route/route_pipeline.h"

#include <cmath>
#include <cstring>

#include <omp.h>
#include <algorithm>
#include <atomic>

#include "src/gate/logits.h"
#include "src/gemm/gemm_bf16.h"
#include "src/route/find_bad_value.h"
#include "src/runtime/threads.h"
#include "src/scores/scores.h"
#include "src/select/topc_global.h"
#include "src/select/topc_radix.h"
#include "src/select/topk_rows.h"

namespace usmoe {

bool FindNonFinite(const float* m, int64_t rows, int64_t cols, int64_t* row, int64_t* col) {
  const int64_t i = FindFirstNonFinite(m, rows * cols);
  if (i < 0) return false;
  *row = i / cols;
  *col = i % cols;
  return true;
}

bool FindNonFiniteBf16(const uint16_t* m, int64_t rows, int64_t cols, int64_t* row,
                       int64_t* col) {
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; ++i) {
    if ((m[i] & 0x7F80u) == 0x7F80u) {  // exponent all ones: Inf or NaN
      *row = i / cols;
      *col = i % cols;
      return true;
    }
  }
  return false;
}

void GateLogits(bool bf16, const void* x, const void* w, int64_t T, int64_t N, int64_t d,
                float* logits) {
  if (!bf16) {
    GateLogitsF32(static_cast<const float*>(x), static_cast<const float*>(w), T, N, d, logits);
    return;
  }
  // vdpbf16ps where usable, exact widening elsewhere (src/gemm/gemm_bf16.h).
  GemmBf16(static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(w), T, N, d, logits);
}

NonFiniteAt LocateNonFinite(const void* x, bool bf16, const float* logits, int64_t T,
                            int64_t N, int64_t d) {
  NonFiniteAt at;
  int64_t t, e;
  if (!FindNonFinite(logits, T, N, &t, &e)) return at;
  at.row = t;
  at.kind = 2;
  at.col = e;
  int64_t r, j;
  const bool bad_x =
      bf16 ? FindNonFiniteBf16(static_cast<const uint16_t*>(x) + t * d, 1, d, &r, &j)
           : FindNonFinite(static_cast<const float*>(x) + t * d, 1, d, &r, &j);
  if (bad_x) {
    at.kind = 1;
    at.col = j;
  }
  return at;
}

int64_t ExpertCapacity(double capacity_factor, double k, int64_t valid_tokens,
                       int64_t num_experts) {
  const double c = std::ceil(capacity_factor * k * static_cast<double>(valid_tokens) /
                             static_cast<double>(num_experts));
  return c >= static_cast<double>(valid_tokens) ? valid_tokens : static_cast<int64_t>(c);
}

int64_t UnifiedBudget(double k, int64_t valid_tokens, int64_t num_experts) {
  const double c = std::floor(k * static_cast<double>(valid_tokens) + 0.5);
  const double cells = static_cast<double>(valid_tokens) * static_cast<double>(num_experts);
  return c >= cells ? valid_tokens * num_experts : static_cast<int64_t>(c);
}

namespace {

// The gate GEMM with the row part of the scores as its epilogue: each
// thread takes chunks of rows whose logits (about 48 KB) are still in L1/L2
// when their softmax, sigmoid and U are computed, and checks them for
// non-finite values there too, instead of two more passes over L from L3 or
// DRAM. Returns false if some logit is not finite.
bool GateAndRowScores(const RouterSpec& spec, const void* w, const void* x, int64_t T,
                      float* L, float* U) {
  const int64_t N = spec.num_experts, d = spec.dim;
  const int threads = NumThreads();
  const bool parallel = threads > 1 && T * N * d > (int64_t{1} << 17);
  // 48 rows: the f32 kernel's super-block on AVX-512 (logits.cc).
  const int64_t base = 48 * std::max<int64_t>(1, 256 / N);
  int64_t chunks = (T + base - 1) / base;
  if (parallel) chunks = (chunks + threads - 1) / threads * threads;  // even shares
  const int64_t rows = ((T + chunks - 1) / chunks + 15) / 16 * 16;
  chunks = (T + rows - 1) / rows;
  const size_t x_bytes = spec.bf16 ? sizeof(uint16_t) : sizeof(float);
  const float alpha = static_cast<float>(spec.alpha);
  std::atomic<bool> finite{true};
  ParallelFor(SplitThreads(parallel && chunks > 1), chunks, false, [&](int64_t c, int) {
    const int64_t t0 = c * rows, m = std::min(rows, T - t0);
    // Nested inside this region the GEMM runs on the calling thread.
    GateLogits(spec.bf16, static_cast<const char*>(x) + t0 * d * x_bytes, w, m, N, d,
               L + t0 * N);
    // A chunk with a non-finite logit is not scored: the route fails anyway,
    // and the exp's float -> int step must never see a NaN.
    if (FindFirstNonFinite(L + t0 * N, m * N) >= 0) {
      finite.store(false, std::memory_order_relaxed);
      return;
    }
    ComputeRowScores(L + t0 * N, m, N, alpha, spec.softmax_tokens, U + t0 * N);
  });
  return finite.load();
}

int64_t CountValid(const uint8_t* valid, int64_t rows) {
  if (!valid) return rows;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) n += valid[r] != 0;
  return n;
}

void SelectTokenChoice(const RouterSpec& spec, const float* U, int64_t T,
                       const uint8_t* valid, RouteScratch* s) {
  const int64_t N = spec.num_experts, k = static_cast<int64_t>(spec.k);
  const int threads = NumThreads();
  s->ids.resize(T * k);
  s->values.resize(T * k);
  const int64_t per = TopKScratchSize(N, k);
  s->keys.resize(static_cast<size_t>(threads) * per);
  TopKRows(U, T, N, k, valid, s->keys.data(), s->ids.data(), s->values.data());
  uint8_t* sel = s->selected.data();
  for (int64_t t = 0; t < T; ++t) {
    if (valid && !valid[t]) continue;
    for (int64_t j = 0; j < k; ++j) sel[t * N + s->ids[t * k + j]] = 1;
  }
}

// Each expert's column of valid rows is copied out (a transpose of the
// group), then selected exactly (select_columns.h): the winners come out as
// ascending valid positions, which is plan order.
// (Selecting column-wise straight from the row-major block, vectors across
// columns, measured 1.7x slower: each row's 16 bins must be extracted lane
// by lane to reach 16 different histograms.)
void SelectExpertChoice(const RouterSpec& spec, const float* U, const int64_t* offsets,
                        int64_t G, const uint8_t* valid, RouteScratch* s) {
  const int64_t N = spec.num_experts;
  uint8_t* sel = s->selected.data();
  for (int64_t g = 0; g < G; ++g) {
    const int64_t r0 = offsets[g], rows = offsets[g + 1] - r0;
    const uint8_t* vg = valid ? valid + r0 : nullptr;
    const int64_t tv = CountValid(vg, rows);
    if (tv == 0) continue;
    const int64_t cap = ExpertCapacity(spec.capacity_factor, spec.k, tv, N);
    if (cap == 0) continue;
    s->row_of.resize(tv);
    for (int64_t r = 0, i = 0; r < rows; ++r)
      if (!vg || vg[r]) s->row_of[i++] = r0 + r;
    if (cap == tv) {  // every valid row, no search
      for (int64_t i = 0; i < tv; ++i) std::memset(sel + s->row_of[i] * N, 1, N);
      continue;
    }
    const int64_t* row_of = s->row_of.data();
    SelectColumns(U, N, row_of, tv, cap, &s->ec,
                  [=](int, int64_t e, const float*, const uint32_t* picked, int64_t m) {
                    for (int64_t i = 0; i < m; ++i) sel[row_of[picked[i]] * N + e] = 1;
                  });
  }
}

void SelectUnified(const RouterSpec& spec, const float* U, const int64_t* offsets,
                   int64_t G, const uint8_t* valid, RouteScratch* s) {
  const int64_t N = spec.num_experts;
  uint8_t* sel = s->selected.data();
  const int threads = NumThreads();
  if (static_cast<int64_t>(s->topc.size()) < threads) s->topc.resize(threads);
  int64_t max_cells = 0;
  for (int64_t g = 0; g < G; ++g) max_cells = std::max(max_cells, (offsets[g + 1] - offsets[g]) * N);
  s->picked.resize(static_cast<size_t>(threads) * (max_cells + 64));
  ParallelFor(SplitThreads(offsets[G] * N > (1 << 15) && G > 1), G, true, [&](int64_t g, int me) {
    const int64_t r0 = offsets[g], rows = offsets[g + 1] - r0, cells = rows * N;
    const uint8_t* vg = valid ? valid + r0 : nullptr;
    const int64_t tv = CountValid(vg, rows);
    const int64_t c = UnifiedBudget(spec.k, tv, N);
    if (c == 0) return;
    const float* ug = U + r0 * N;
    uint8_t* sg = sel + r0 * N;
    if (c == tv * N) {  // the whole budget: every valid cell, no search
      for (int64_t r = 0; r < rows; ++r)
        if (!vg || vg[r]) std::memset(sg + r * N, 1, N);
      return;
    }
    if (tv == rows && cells < (int64_t{1} << 32) - 64) {
      uint32_t* picked = s->picked.data() + me * (max_cells + 64);
      const int64_t m = SelectTopCIndices(ug, cells, c, TopCThreads(cells), &s->topc[me], picked);
      for (int64_t i = 0; i < m; ++i) sg[picked[i]] = 1;
      return;
    }
    const TopCThreshold th = FindTopCThreshold(ug, rows, N, vg, c);
    CompactTopC(ug, rows, N, vg, th, [sg](int64_t i) { sg[i] = 1; });
  });
}

}  // namespace

NonFiniteAt RoutePipeline(const RouterSpec& spec, const void* w, const void* x,
                          int64_t T, const int64_t* offsets, int64_t G,
                          const uint8_t* valid, RouteScratch* s, PlanData* out) {
  const int64_t N = spec.num_experts, d = spec.dim;
  NonFiniteAt bad;
  s->logits.resize(T * N);
  s->scores.resize(T * N);
  if (!GateAndRowScores(spec, w, x, T, s->logits.data(), s->scores.data())) {
    bad = LocateNonFinite(x, spec.bf16, s->logits.data(), T, N, d);
    if (bad.kind != 0) return bad;
  }
  if (spec.softmax_tokens)
    AddTokenSoftmax(s->logits.data(), T, N, static_cast<float>(spec.alpha), offsets, G, valid,
                    s->scores.data());

  s->selected.assign(T * N, 0);
  switch (spec.policy) {
    case Policy::kTokenChoice:
      SelectTokenChoice(spec, s->scores.data(), T, valid, s);
      break;
    case Policy::kExpertChoice:
      SelectExpertChoice(spec, s->scores.data(), offsets, G, valid, s);
      break;
    case Policy::kUnified:
      SelectUnified(spec, s->scores.data(), offsets, G, valid, s);
      break;
  }
  BuildPlan(s->selected.data(), s->scores.data(), T, N, spec.gate_norm, spec.token_view, out);
  out->has_scores = spec.keep_scores;
  if (spec.keep_scores) {
    out->scores.swap(s->scores);
  } else {
    out->scores.clear();
  }
  return bad;
}

}  // namespace usmoe
