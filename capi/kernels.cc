// Kernel-level entry points: one routing stage per call.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstring>
#include <vector>

#include "capi/args.h"
#include "capi/error.h"
#include "src/route/find_bad_value.h"
#include "src/route/route_pipeline.h"
#include "src/gate/logits.h"
#include "src/runtime/threads.h"
#include "src/scores/scores.h"
#include "src/select/order_by_score.h"
#include "src/select/select_columns.h"
#include "src/select/select_keys.h"
#include "src/select/topc_global.h"
#include "src/select/topc_radix.h"
#include "src/select/topk_rows.h"

namespace usmoe {
namespace {

usmoe_status CheckNoNaN(const char* fn, const float* v, int64_t rows, int64_t cols) {
  const int64_t i = FindFirstNaN(v, rows * cols);
  if (i < 0) return USMOE_STATUS_SUCCESS;
  return Fail(USMOE_STATUS_NON_FINITE_INPUT, "%s: scores[%lld][%lld] is NaN", fn,
              static_cast<long long>(i / cols), static_cast<long long>(i % cols));
}

// The checks every kernel over a T×N score matrix starts with: sizes, their
// product, and no NaN (±Inf are ordered and allowed).
usmoe_status CheckScoreMatrix(const char* fn, const float* scores, int64_t rows, int64_t cols,
                              int64_t* cells) {
  if (!scores) return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: scores is NULL", fn);
  if (usmoe_status s = CheckSize(fn, "num_tokens", rows)) return s;
  if (usmoe_status s = CheckSize(fn, "num_experts", cols)) return s;
  if (usmoe_status s = CheckProduct(fn, "scores", rows, cols, cells)) return s;
  return USMOE_STATUS_SUCCESS;
}

#define USMOE_REQUIRE(ptr)                                                               \
  if (!(ptr)) return ::usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: " #ptr " is NULL", fn)
#define USMOE_CHECK(expr) \
  if (usmoe_status usmoe_s_ = (expr)) return usmoe_s_

}  // namespace
}  // namespace usmoe

extern "C" {

USMOE_API usmoe_status usmoe_logits(const void* x, const void* w, usmoe_dtype dtype,
                                    int64_t num_tokens, int64_t num_experts, int64_t dim,
                                    float* logits) {
  static const char* fn = "usmoe_logits";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    USMOE_REQUIRE(x);
    USMOE_REQUIRE(w);
    USMOE_REQUIRE(logits);
    if (dtype != USMOE_DTYPE_F32 && dtype != USMOE_DTYPE_BF16)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: dtype = %d is not a usmoe_dtype",
                         fn, dtype);
    USMOE_CHECK(usmoe::CheckSize(fn, "num_tokens", num_tokens));
    USMOE_CHECK(usmoe::CheckSize(fn, "num_experts", num_experts));
    USMOE_CHECK(usmoe::CheckSize(fn, "dim", dim));
    int64_t nx, nw, nl;
    USMOE_CHECK(usmoe::CheckProduct(fn, "x", num_tokens, dim, &nx));
    USMOE_CHECK(usmoe::CheckProduct(fn, "w", num_experts, dim, &nw));
    USMOE_CHECK(usmoe::CheckProduct(fn, "logits", num_tokens, num_experts, &nl));
    // W is packed per call (f32 panels, or bf16 k-pairs); X is read in place.
    (void)nx;
    const bool bf16 = dtype == USMOE_DTYPE_BF16;
    std::vector<float> packed;
    std::vector<uint16_t> pairs;
    if (bf16) {
      const auto* wb = static_cast<const uint16_t*>(w);
      USMOE_CHECK(usmoe::CheckFiniteBf16(fn, "w", wb, num_experts, dim, "expert", "feature"));
      pairs.resize(usmoe::PackedBf16PairsSize(num_experts, dim));
      usmoe::PackBf16Pairs(wb, num_experts, dim, pairs.data());
    } else {
      const auto* wf = static_cast<const float*>(w);
      USMOE_CHECK(usmoe::CheckFinite(fn, "w", wf, num_experts, dim, "expert", "feature"));
      packed.resize(usmoe::PackedGateSize(num_experts, dim));
      usmoe::PackGateWeight(wf, num_experts, dim, packed.data());
    }
    // Computed aside: an overflow found afterwards must not leave a partial write.
    std::vector<float> out(nl);
    usmoe::GateLogits(bf16, x,
                      bf16 ? static_cast<const void*>(pairs.data())
                           : static_cast<const void*>(packed.data()),
                      num_tokens, num_experts, dim, out.data());
    const usmoe::NonFiniteAt bad =
        usmoe::LocateNonFinite(x, bf16, out.data(), num_tokens, num_experts, dim);
    const long long r = bad.row, c = bad.col;
    if (bad.kind == 1)
      return usmoe::Fail(USMOE_STATUS_NON_FINITE_INPUT,
                         "%s: x[%lld][%lld] is NaN or Inf (token %lld, feature %lld)", fn, r, c, r,
                         c);
    if (bad.kind == 2)
      return usmoe::Fail(USMOE_STATUS_NON_FINITE_INPUT,
                         "%s: logits[%lld][%lld] = x·w overflows f32 (token %lld, expert %lld)",
                         fn, r, c, r, c);
    std::memcpy(logits, out.data(), sizeof(float) * nl);
    return usmoe::Succeed();
  });
}

USMOE_API usmoe_status usmoe_scores(const float* logits, int64_t num_tokens,
                                    int64_t num_experts, double alpha,
                                    usmoe_expert_score expert_score,
                                    const int64_t* group_sizes, int64_t num_groups,
                                    const uint8_t* valid_mask, float* scores) {
  static const char* fn = "usmoe_scores";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    USMOE_REQUIRE(logits);
    USMOE_REQUIRE(scores);
    USMOE_CHECK(usmoe::CheckSize(fn, "num_tokens", num_tokens));
    USMOE_CHECK(usmoe::CheckSize(fn, "num_experts", num_experts));
    int64_t n;
    USMOE_CHECK(usmoe::CheckProduct(fn, "logits", num_tokens, num_experts, &n));
    if (!(alpha >= 0.0 && alpha <= 1.0))
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: alpha = %g, expected in [0, 1]", fn,
                         alpha);
    if (expert_score != USMOE_EXPERT_SCORE_SIGMOID &&
        expert_score != USMOE_EXPERT_SCORE_SOFTMAX_TOKENS)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                         "%s: expert_score = %d is not a usmoe_expert_score", fn, expert_score);
    std::vector<int64_t> offsets;
    USMOE_CHECK(usmoe::ParseGroups(fn, group_sizes, num_groups, num_tokens, &offsets));
    USMOE_CHECK(usmoe::CheckFinite(fn, "logits", logits, num_tokens, num_experts, "token",
                                   "expert"));
    if (usmoe::Overlaps(logits, n * 4, scores, n * 4))
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                         "%s: scores overlaps logits (in-place scoring is not supported)", fn);
    usmoe::ComputeScores(logits, num_tokens, num_experts, static_cast<float>(alpha),
                         expert_score == USMOE_EXPERT_SCORE_SOFTMAX_TOKENS, offsets.data(),
                         static_cast<int64_t>(offsets.size()) - 1, valid_mask, scores);
    return usmoe::Succeed();
  });
}

USMOE_API usmoe_status usmoe_topk_rows(const float* scores, int64_t num_tokens,
                                       int64_t num_experts, int64_t k, int64_t* expert_ids,
                                       float* values) {
  static const char* fn = "usmoe_topk_rows";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    int64_t n;
    USMOE_CHECK(usmoe::CheckScoreMatrix(fn, scores, num_tokens, num_experts, &n));
    USMOE_REQUIRE(expert_ids);
    USMOE_REQUIRE(values);
    if (k < 1 || k > num_experts)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                         "%s: k = %lld, expected in [1, num_experts = %lld]", fn,
                         static_cast<long long>(k), static_cast<long long>(num_experts));
    USMOE_CHECK(usmoe::CheckNoNaN(fn, scores, num_tokens, num_experts));
    std::vector<uint32_t> keys(static_cast<size_t>(usmoe::NumThreads()) *
                               usmoe::TopKScratchSize(num_experts, k));
    usmoe::TopKRows(scores, num_tokens, num_experts, k, nullptr, keys.data(), expert_ids, values);
    return usmoe::Succeed();
  });
}

USMOE_API usmoe_status usmoe_topc_cols(const float* scores, int64_t num_tokens,
                                       int64_t num_experts, int64_t capacity,
                                       int64_t* token_ids, float* values) {
  static const char* fn = "usmoe_topc_cols";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    int64_t n;
    USMOE_CHECK(usmoe::CheckScoreMatrix(fn, scores, num_tokens, num_experts, &n));
    USMOE_REQUIRE(token_ids);
    USMOE_REQUIRE(values);
    if (capacity < 1 || capacity > num_tokens)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                         "%s: capacity = %lld, expected in [1, num_tokens = %lld]", fn,
                         static_cast<long long>(capacity), static_cast<long long>(num_tokens));
    USMOE_CHECK(usmoe::CheckNoNaN(fn, scores, num_tokens, num_experts));
    // Column select as in routing (select_columns.h), then the C winners
    // ordered by (score desc, token asc) for this entry point. Buffers kept
    // per calling thread and only grown.
    thread_local usmoe::ColumnSelectScratch select_tl;
    thread_local std::vector<usmoe::OrderScratch> order_tl;
    const int threads = usmoe::NumThreads();
    if (static_cast<int>(order_tl.size()) < threads) order_tl.resize(threads);
    usmoe::OrderScratch* const order = order_tl.data();  // the workers use the caller's
    usmoe::SelectColumns(scores, num_experts, nullptr, num_tokens, capacity, &select_tl,
                         [=](int me, int64_t e, const float* col, uint32_t* pk, int64_t m) {
                           usmoe::OrderByScoreDesc(col, 1, pk, m, &order[me]);
                           for (int64_t i = 0; i < m; ++i) {
                             token_ids[e * capacity + i] = pk[i];
                             values[e * capacity + i] = col[pk[i]];
                           }
                         });
    return usmoe::Succeed();
  });
}

USMOE_API usmoe_status usmoe_topc_global(const float* values, int64_t n, int64_t c,
                                         int64_t* indices, int64_t indices_capacity) {
  static const char* fn = "usmoe_topc_global";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    USMOE_REQUIRE(values);
    if (n < 1)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: n = %lld, expected >= 1", fn,
                         static_cast<long long>(n));
    if (n > INT64_MAX / 8)
      return usmoe::Fail(USMOE_STATUS_OUT_OF_MEMORY, "%s: n = %lld is too large", fn,
                         static_cast<long long>(n));
    if (c < 0 || c > n)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: c = %lld, expected in [0, n = %lld]",
                         fn, static_cast<long long>(c), static_cast<long long>(n));
    if (c > 0) USMOE_REQUIRE(indices);
    if (indices_capacity < c)
      return usmoe::Fail(USMOE_STATUS_BUFFER_TOO_SMALL,
                         "%s: indices_capacity = %lld, the result needs c = %lld", fn,
                         static_cast<long long>(indices_capacity), static_cast<long long>(c));
    // The sampled path below finds NaN in its first pass, before any write.
    const bool sampled = c > 0 && c < n && n < (int64_t{1} << 32) - 64;
    if (!sampled) USMOE_CHECK(usmoe::CheckNoNaN(fn, values, 1, n));
    if (c == 0) return usmoe::Succeed();
    if (c == n) {
      for (int64_t i = 0; i < n; ++i) indices[i] = i;
      return usmoe::Succeed();
    }
    if (sampled) {
      // Kept per thread: fresh multi-megabyte buffers cost more in page
      // faults than the whole selection.
      thread_local usmoe::TopCScratch scratch;
      thread_local std::vector<uint32_t> picked;
      bool saw_nan = false;
      picked.resize(n + 64);
      const int64_t m = usmoe::SelectTopCIndices(values, n, c, usmoe::TopCThreads(n), &scratch,
                                                 picked.data(), &saw_nan);
      if (saw_nan) return usmoe::CheckNoNaN(fn, values, 1, n);  // names the first one
      // picked is the calling thread's; the workers get its data pointer.
      const uint32_t* pk = picked.data();
      const int parts = usmoe::TopCThreads(m);
      usmoe::ParallelFor(parts, parts, false, [=](int64_t t, int) {
        for (int64_t i = m * t / parts, e = m * (t + 1) / parts; i < e; ++i) indices[i] = pk[i];
      });
    } else {
      const usmoe::TopCThreshold th = usmoe::FindTopCThreshold(values, 1, n, nullptr, c);
      int64_t out = 0;
      usmoe::CompactTopC(values, 1, n, nullptr, th, [&](int64_t i) { indices[out++] = i; });
    }
    return usmoe::Succeed();
  });
}

}  // extern "C"
