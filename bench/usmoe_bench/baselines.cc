// usmoe-bench: baseline implementations (see baselines.h).
#include "baselines.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "workloads.h"

#ifdef USMOE_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace usmoe_bench {
namespace {

template <typename I>
struct Cell {
  float score;
  I idx;
};

// Higher score first; equal scores: lower index first.
template <typename I>
inline bool Better(const Cell<I>& a, const Cell<I>& b) {
  return a.score > b.score || (a.score == b.score && a.idx < b.idx);
}

inline float Sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

// Below this many cells an OpenMP region costs more than it saves (and on a
// busy machine a sleeping worker can take a scheduler tick to wake up), so
// the baselines stay on one thread, as a sensible plain implementation would.
constexpr int64_t kParallelCells = 1 << 16;

}  // namespace

void BaselineScores(const float* logits, int64_t T, int64_t N, double alpha,
                    float* scores) {
  const float a = static_cast<float>(alpha);
  const float fe_scale = 2.0f / static_cast<float>(N);
#pragma omp parallel for schedule(static) if (T * N >= kParallelCells)
  for (int64_t t = 0; t < T; ++t) {
    const float* l = logits + t * N;
    float* u = scores + t * N;
    float mx = l[0];
    for (int64_t e = 1; e < N; ++e) mx = std::max(mx, l[e]);
    float sum = 0;
    for (int64_t e = 0; e < N; ++e) {
      u[e] = std::exp(l[e] - mx);
      sum += u[e];
    }
    const float inv = 1.0f / sum;
    if (a == 0.0f) {
      for (int64_t e = 0; e < N; ++e) u[e] *= inv;
    } else {
      for (int64_t e = 0; e < N; ++e)
        u[e] = (1.0f - a) * (u[e] * inv) + a * (Sigmoid(l[e]) * fe_scale);
    }
  }
}

void BaselineTopkRows(const float* scores, int64_t T, int64_t N, int64_t k,
                      int64_t* expert_ids, float* values) {
#pragma omp parallel if (T * N >= kParallelCells)
  {
    std::vector<Cell<uint32_t>> row(static_cast<size_t>(N));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; ++t) {
      const float* s = scores + t * N;
      for (int64_t e = 0; e < N; ++e) row[size_t(e)] = {s[e], uint32_t(e)};
      std::partial_sort(row.begin(), row.begin() + k, row.end(), Better<uint32_t>);
      for (int64_t j = 0; j < k; ++j) {
        expert_ids[t * k + j] = row[size_t(j)].idx;
        values[t * k + j] = row[size_t(j)].score;
      }
    }
  }
}

void BaselineTopcCols(const float* scores, int64_t T, int64_t N, int64_t C,
                      int64_t* token_ids, float* values) {
#pragma omp parallel if (T * N >= kParallelCells)
  {
    std::vector<Cell<uint32_t>> col(static_cast<size_t>(T));
#pragma omp for schedule(static)
    for (int64_t e = 0; e < N; ++e) {
      for (int64_t t = 0; t < T; ++t) col[size_t(t)] = {scores[t * N + e], uint32_t(t)};
      std::nth_element(col.begin(), col.begin() + (C - 1), col.end(), Better<uint32_t>);
      std::sort(col.begin(), col.begin() + C, Better<uint32_t>);
      for (int64_t j = 0; j < C; ++j) {
        token_ids[e * C + j] = col[size_t(j)].idx;
        values[e * C + j] = col[size_t(j)].score;
      }
    }
  }
}

namespace {
template <typename I>
void TopcGlobalImpl(const float* values, int64_t n, int64_t c, int64_t* indices) {
  if (c <= 0) return;
  std::vector<Cell<I>> cells(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) cells[size_t(i)] = {values[i], I(i)};
  if (c < n)
    std::nth_element(cells.begin(), cells.begin() + (c - 1), cells.end(), Better<I>);
  for (int64_t j = 0; j < c; ++j) indices[j] = static_cast<int64_t>(cells[size_t(j)].idx);
  std::sort(indices, indices + c);
}
}  // namespace

void BaselineTopcGlobal(const float* values, int64_t n, int64_t c, int64_t* indices) {
  if (n <= int64_t(UINT32_MAX))
    TopcGlobalImpl<uint32_t>(values, n, c, indices);
  else
    TopcGlobalImpl<uint64_t>(values, n, c, indices);
}

void BaselineSelectAndPlan(const float* scores, int64_t T, int64_t N,
                           usmoe_policy policy, double k,
                           const std::vector<int64_t>& group_sizes,
                           SelectScratch* sc, BasePlan* plan) {
  plan->offsets.assign(size_t(N + 1), 0);
  plan->token_counts.assign(size_t(T), 0);
  sc->cursor.resize(size_t(N));
  int64_t* off = plan->offsets.data();
  int64_t* counts = plan->token_counts.data();

  if (policy == USMOE_POLICY_TOKEN_CHOICE) {
    const int64_t kk = static_cast<int64_t>(k);
    sc->ids.resize(size_t(T * kk));
    sc->vals.resize(size_t(T * kk));
    BaselineTopkRows(scores, T, N, kk, sc->ids.data(), sc->vals.data());
    for (int64_t i = 0; i < T * kk; ++i) ++off[sc->ids[size_t(i)] + 1];
    for (int64_t e = 0; e < N; ++e) off[e + 1] += off[e];
    plan->token_ids.resize(size_t(off[N]));
    plan->weights.resize(size_t(off[N]));
    std::copy(off, off + N, sc->cursor.begin());
    for (int64_t t = 0; t < T; ++t) {
      counts[t] = kk;
      for (int64_t j = 0; j < kk; ++j) {
        int64_t e = sc->ids[size_t(t * kk + j)];
        int64_t pos = sc->cursor[size_t(e)]++;
        plan->token_ids[size_t(pos)] = t;
        plan->weights[size_t(pos)] = sc->vals[size_t(t * kk + j)];
      }
    }
    return;
  }

  if (policy == USMOE_POLICY_EXPERT_CHOICE) {
    // Per group: top-C per column, marked in a T×N mask; then one row-major
    // scan buckets the cells by expert (ascending tokens for free).
    sc->mask.assign(size_t(T * N), 0);
    int64_t start = 0;
    for (int64_t tg : group_sizes) {
      if (tg > 0) {
        const int64_t C = EcCapacity(k, tg, N);
        sc->ids.resize(size_t(N * C));
        sc->vals.resize(size_t(N * C));
        BaselineTopcCols(scores + start * N, tg, N, C, sc->ids.data(), sc->vals.data());
        for (int64_t e = 0; e < N; ++e)
          for (int64_t j = 0; j < C; ++j)
            sc->mask[size_t((start + sc->ids[size_t(e * C + j)]) * N + e)] = 1;
      }
      start += tg;
    }
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < N; ++e)
        if (sc->mask[size_t(t * N + e)]) {
          ++off[e + 1];
          ++counts[t];
        }
    for (int64_t e = 0; e < N; ++e) off[e + 1] += off[e];
    plan->token_ids.resize(size_t(off[N]));
    plan->weights.resize(size_t(off[N]));
    std::copy(off, off + N, sc->cursor.begin());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < N; ++e)
        if (sc->mask[size_t(t * N + e)]) {
          int64_t pos = sc->cursor[size_t(e)]++;
          plan->token_ids[size_t(pos)] = t;
          plan->weights[size_t(pos)] = scores[t * N + e];
        }
    return;
  }

  // UNIFIED: per group, global top-c of the flattened group; the indices come
  // back ascending, i.e. by token, so a counting sort by expert keeps tokens
  // ascending within each expert.
  int64_t total = 0;
  for (int64_t tg : group_sizes) total += UnifiedBudget(k, tg, N);
  sc->ids.resize(size_t(total));
  int64_t start = 0, at = 0;
  for (int64_t tg : group_sizes) {
    const int64_t c = UnifiedBudget(k, tg, N);
    if (tg > 0) {
      BaselineTopcGlobal(scores + start * N, tg * N, c, sc->ids.data() + at);
      for (int64_t j = 0; j < c; ++j) sc->ids[size_t(at + j)] += start * N;
    }
    at += c;
    start += tg;
  }
  for (int64_t i = 0; i < total; ++i) {
    int64_t flat = sc->ids[size_t(i)];
    ++off[flat % N + 1];
    ++counts[flat / N];
  }
  for (int64_t e = 0; e < N; ++e) off[e + 1] += off[e];
  plan->token_ids.resize(size_t(total));
  plan->weights.resize(size_t(total));
  std::copy(off, off + N, sc->cursor.begin());
  for (int64_t i = 0; i < total; ++i) {
    int64_t flat = sc->ids[size_t(i)];
    int64_t pos = sc->cursor[size_t(flat % N)]++;
    plan->token_ids[size_t(pos)] = flat / N;
    plan->weights[size_t(pos)] = scores[flat];
  }
}

// ------------------------------------------------------------------ oneDNN

#ifdef USMOE_WITH_ONEDNN

struct OnednnGate::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory src, wei, dst;
  std::string impl_name;
};

OnednnGate::OnednnGate() = default;
OnednnGate::~OnednnGate() = default;
bool OnednnGate::Available() { return true; }

std::string OnednnGate::Version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

std::string OnednnGate::Init(int64_t T, int64_t N, int64_t d, usmoe_dtype dtype,
                             const void* w, bool prepack) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  try {
    impl_.reset(new Impl());
    const dt in_dt = dtype == USMOE_DTYPE_BF16 ? dt::bf16 : dt::f32;
    dnnl::memory::desc src_md({T, d}, in_dt, tag::ab);
    // Wᵀ (d×N) is W (N×d, row-major) read column-major: tag ba.
    dnnl::memory::desc wei_user_md({d, N}, in_dt, tag::ba);
    dnnl::memory::desc wei_md = prepack ? dnnl::memory::desc({d, N}, in_dt, tag::any)
                                        : wei_user_md;
    dnnl::memory::desc dst_md({T, N}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, dst_md),
                                    impl_->eng);
    impl_->prim = dnnl::matmul(pd);
    impl_->impl_name = pd.impl_info_str();
    dnnl::memory user_w(wei_user_md, impl_->eng, const_cast<void*>(w));
    if (pd.weights_desc() != wei_user_md) {
      impl_->wei = dnnl::memory(pd.weights_desc(), impl_->eng);
      dnnl::reorder(user_w, impl_->wei).execute(impl_->strm, user_w, impl_->wei);
      impl_->strm.wait();
    } else {
      impl_->wei = user_w;
    }
    impl_->src = dnnl::memory(src_md, impl_->eng, DNNL_MEMORY_NONE);
    impl_->dst = dnnl::memory(dst_md, impl_->eng, DNNL_MEMORY_NONE);
  } catch (const dnnl::error& e) {
    impl_.reset();
    return std::string("oneDNN: ") + e.what();
  }
  return "";
}

std::string OnednnGate::Run(const void* x, float* logits) {
  if (!impl_) return "oneDNN matmul not initialised";
  try {
    impl_->src.set_data_handle(const_cast<void*>(x));
    impl_->dst.set_data_handle(logits);
    impl_->prim.execute(impl_->strm, {{DNNL_ARG_SRC, impl_->src},
                                      {DNNL_ARG_WEIGHTS, impl_->wei},
                                      {DNNL_ARG_DST, impl_->dst}});
    impl_->strm.wait();
  } catch (const dnnl::error& e) {
    return std::string("oneDNN: ") + e.what();
  }
  return "";
}

std::string OnednnGate::ImplName() const { return impl_ ? impl_->impl_name : ""; }

#else  // !USMOE_WITH_ONEDNN

struct OnednnGate::Impl {};
OnednnGate::OnednnGate() = default;
OnednnGate::~OnednnGate() = default;
bool OnednnGate::Available() { return false; }
std::string OnednnGate::Version() { return ""; }
std::string OnednnGate::Init(int64_t, int64_t, int64_t, usmoe_dtype, const void*, bool) {
  return "skipped (no oneDNN)";
}
std::string OnednnGate::Run(const void*, float*) { return "skipped (no oneDNN)"; }
std::string OnednnGate::ImplName() const { return ""; }

#endif  // USMOE_WITH_ONEDNN

}  // namespace usmoe_bench
