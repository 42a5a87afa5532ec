// usmoe-bench: the MoE-layer stage (see moe_stage.h).
#include "moe_stage.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "baselines.h"
#include "router_setup.h"

namespace usmoe_bench {
namespace {


// Stateless uniform in [-a, a): element i of stream s hashed with splitmix64,
// so the fill parallelises and does not depend on the thread count.
void FillUniform(uint64_t seed, uint64_t stream, float a, std::vector<float>* v) {
  const int64_t n = static_cast<int64_t>(v->size());
  float* p = v->data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + (stream << 48) + static_cast<uint64_t>(i);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = static_cast<float>(z >> 40) * 0x1p-24f;
    p[i] = (2.0f * u - 1.0f) * a;
  }
}

void RoundBf16(std::vector<float>* v, std::vector<uint16_t>* b) {
  b->resize(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    (*b)[i] = F32ToBf16((*v)[i]);
    (*v)[i] = Bf16ToF32((*b)[i]);
  }
}

float Silu(float x) { return x / (1.0f + std::exp(-x)); }

// The baseline FFN of one expert for a fixed number of rows: three oneDNN
// matmuls (weights prepacked once) and a scalar SwiGLU.
class OnednnFfn {
 public:
  std::string Init(int64_t rows, int64_t d, int64_t f, usmoe_dtype dtype, const void* w1,
                   const void* w3, const void* w2) {
    rows_ = rows;
    d_ = d;
    f_ = f;
    dtype_ = dtype;
    std::string e = m1_.Init(rows, f, d, dtype, w1, true);
    if (e.empty()) e = m3_.Init(rows, f, d, dtype, w3, true);
    if (e.empty()) e = m2_.Init(rows, d, f, dtype, w2, true);
    h1_.resize(size_t(rows * f));
    h3_.resize(size_t(rows * f));
    if (dtype == USMOE_DTYPE_BF16) hb_.resize(size_t(rows * f));
    return e;
  }
  // out (rows×d) = FFN(x), x of the dtype.
  std::string Run(const void* x, float* out) {
    std::string e = m1_.Run(x, h1_.data());
    if (e.empty()) e = m3_.Run(x, h3_.data());
    if (!e.empty()) return e;
    const int64_t n = rows_ * f_;
    for (int64_t i = 0; i < n; ++i) h1_[size_t(i)] = Silu(h1_[size_t(i)]) * h3_[size_t(i)];
    if (dtype_ == USMOE_DTYPE_BF16) {
      for (int64_t i = 0; i < n; ++i) hb_[size_t(i)] = F32ToBf16(h1_[size_t(i)]);
      return m2_.Run(hb_.data(), out);
    }
    return m2_.Run(h1_.data(), out);
  }

 private:
  int64_t rows_ = 0, d_ = 0, f_ = 0;
  usmoe_dtype dtype_ = USMOE_DTYPE_F32;
  OnednnGate m1_, m3_, m2_;
  std::vector<float> h1_, h3_;
  std::vector<uint16_t> hb_;
};

template <class T>
const T* Offset(const void* p, int64_t elems) {
  return static_cast<const T*>(p) + elems;
}

const void* ExpertPtr(const void* base, usmoe_dtype dtype, int64_t elems) {
  return dtype == USMOE_DTYPE_BF16 ? static_cast<const void*>(Offset<uint16_t>(base, elems))
                                   : static_cast<const void*>(Offset<float>(base, elems));
}

}  // namespace

MoeWeights MakeMoeWeights(const Options& o) {
  MoeWeights w;
  w.N = o.experts;
  w.d = o.dim;
  w.f = o.hidden;
  w.S = o.shared;
  w.fs = o.shared > 0 ? o.shared_hidden : 0;
  w.dtype = o.dtype;
  const float a = std::sqrt(3.0f / float(w.d)), b = std::sqrt(3.0f / float(w.f));
  const uint64_t seed = o.seed + 1000;
  w.w1.resize(size_t(w.N * w.f * w.d));
  w.w3.resize(w.w1.size());
  w.w2.resize(w.w1.size());
  FillUniform(seed, 1, a, &w.w1);
  FillUniform(seed, 2, a, &w.w3);
  FillUniform(seed, 3, b, &w.w2);
  if (w.S > 0) {
    const float bs = std::sqrt(3.0f / float(w.fs));
    w.sw1.resize(size_t(w.S * w.fs * w.d));
    w.sw3.resize(w.sw1.size());
    w.sw2.resize(w.sw1.size());
    FillUniform(seed, 4, a, &w.sw1);
    FillUniform(seed, 5, a, &w.sw3);
    FillUniform(seed, 6, bs, &w.sw2);
  }
  if (w.dtype == USMOE_DTYPE_BF16) {
    RoundBf16(&w.w1, &w.w1b);
    RoundBf16(&w.w3, &w.w3b);
    RoundBf16(&w.w2, &w.w2b);
    RoundBf16(&w.sw1, &w.sw1b);
    RoundBf16(&w.sw3, &w.sw3b);
    RoundBf16(&w.sw2, &w.sw2b);
  }
  return w;
}

double MoeFlops(const MoeWeights& w, int64_t T, int64_t pairs) {
  return 6.0 * double(w.d) * (double(w.f) * double(pairs) + double(w.fs) * double(w.S) * double(T));
}

double MoeWeightBytes(const MoeWeights& w, int64_t experts_hit) {
  const double elem = w.dtype == USMOE_DTYPE_BF16 ? 2.0 : 4.0;
  return 3.0 * double(w.d) * elem * (double(w.f) * double(experts_hit) + double(w.fs) * double(w.S));
}

Row RunMoeStage(const Options& o, const Workload& wl, const MoeWeights& w,
                const usmoe_experts* experts, usmoe_policy policy, const TimingPolicy& tp,
                std::vector<float>* y) {
  const int64_t T = wl.T, N = wl.N, d = wl.d;
  const double alpha = PolicyAlpha(o, policy);
  Row r;
  r.stage = "moe";
  r.policy = PolicyName(policy);
  r.T = T;
  r.N = N;
  r.d = d;
  r.G = 1;
  r.k = o.k;
  r.f = w.f;
  r.S = w.S;
  r.fs = w.fs;
  r.bf16 = w.dtype == USMOE_DTYPE_BF16;
  r.unit = Unit::kFlops;
  r.base_name = std::string("oneDNN route + matmuls per expert ") + DtypeName(w.dtype);
  if (policy == USMOE_POLICY_TOKEN_CHOICE && o.k != std::floor(o.k)) {
    r.ours.error = r.base.error = "skipped (tc needs an integer k)";
    return r;
  }

  usmoe_router* router = nullptr;
  usmoe_plan* plan = nullptr;
  const std::string create_error = CreateRouterAndPlan(o, wl, policy, &router, &plan);
  y->assign(size_t(T * d), 0.0f);
  // Activations are f32 for usmoe_experts_forward whatever the weights.
  Timed ours = [&]() -> std::string {
    if (!create_error.empty()) return create_error;
    usmoe_status s2 = usmoe_route(router, wl.x_ptr(), T, nullptr, 0, nullptr, plan);
    if (s2 == USMOE_STATUS_SUCCESS) s2 = usmoe_experts_forward(experts, wl.x.data(), T, plan, y->data());
    return s2 == USMOE_STATUS_SUCCESS ? "" : StatusMessage(s2);
  };

  // The baseline's plan is fixed by its inputs, so its per-expert matmuls
  // are created once, for their row counts, outside the timed loop.
  OnednnGate gate;
  std::string berr = gate.Init(T, N, d, wl.dtype, wl.w_ptr(), /*prepack=*/true);
  std::vector<float> L(size_t(T * N)), U(size_t(T * N)), yb(size_t(T * d), 0.0f);
  SelectScratch scratch;
  BasePlan bplan;
  const std::vector<int64_t> one_group = {T};
  auto route_base = [&]() -> std::string {
    std::string e = gate.Run(wl.x_ptr(), L.data());
    if (!e.empty()) return e;
    BaselineScores(L.data(), T, N, alpha, U.data());
    BaselineSelectAndPlan(U.data(), T, N, policy, o.k, one_group, &scratch, &bplan);
    return std::string();
  };
  std::vector<std::unique_ptr<OnednnFfn>> ffn(static_cast<size_t>(N));
  std::vector<std::unique_ptr<OnednnFfn>> shared(static_cast<size_t>(w.S));
  const bool bf16 = w.dtype == USMOE_DTYPE_BF16;
  const int64_t fd = w.f * d;
  if (berr.empty()) berr = route_base();
  for (int64_t e = 0; berr.empty() && e < N; ++e) {
    const int64_t rows = bplan.offsets[size_t(e + 1)] - bplan.offsets[size_t(e)];
    if (rows == 0) continue;
    ffn[size_t(e)].reset(new OnednnFfn());
    berr = ffn[size_t(e)]->Init(rows, d, w.f, w.dtype, ExpertPtr(w.Ptr(w.w1, w.w1b), w.dtype, e * fd),
                                ExpertPtr(w.Ptr(w.w3, w.w3b), w.dtype, e * fd),
                                ExpertPtr(w.Ptr(w.w2, w.w2b), w.dtype, e * fd));
  }
  const int64_t sfd = w.fs * d;
  for (int64_t s = 0; berr.empty() && s < w.S; ++s) {
    shared[size_t(s)].reset(new OnednnFfn());
    berr = shared[size_t(s)]->Init(T, d, w.fs, w.dtype,
                                   ExpertPtr(w.Ptr(w.sw1, w.sw1b), w.dtype, s * sfd),
                                   ExpertPtr(w.Ptr(w.sw3, w.sw3b), w.dtype, s * sfd),
                                   ExpertPtr(w.Ptr(w.sw2, w.sw2b), w.dtype, s * sfd));
  }
  std::vector<float> xg(size_t(T * d)), out(size_t(T * d));
  std::vector<uint16_t> xgb(bf16 ? size_t(T * d) : 0);
  Timed base = [&]() -> std::string {
    std::string e = route_base();
    if (!e.empty()) return e;
    std::fill(yb.begin(), yb.end(), 0.0f);
    for (int64_t s = 0; s < w.S; ++s) {
      e = shared[size_t(s)]->Run(wl.x_ptr(), out.data());
      if (!e.empty()) return e;
      for (int64_t i = 0; i < T * d; ++i) yb[size_t(i)] += out[size_t(i)];
    }
    for (int64_t ex = 0; ex < N; ++ex) {
      const int64_t s0 = bplan.offsets[size_t(ex)], rows = bplan.offsets[size_t(ex + 1)] - s0;
      if (rows == 0) continue;
      if (!ffn[size_t(ex)]) return "baseline plan changed between runs";
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t t = bplan.token_ids[size_t(s0 + i)];
        if (bf16)
          std::memcpy(xgb.data() + i * d, wl.x_bf16.data() + t * d, sizeof(uint16_t) * d);
        else
          std::memcpy(xg.data() + i * d, wl.x.data() + t * d, sizeof(float) * d);
      }
      e = ffn[size_t(ex)]->Run(bf16 ? static_cast<const void*>(xgb.data()) : xg.data(),
                               out.data());
      if (!e.empty()) return e;
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t t = bplan.token_ids[size_t(s0 + i)];
        const float g = bplan.weights[size_t(s0 + i)];
        float* yt = yb.data() + t * d;
        const float* o2 = out.data() + i * d;
        for (int64_t j = 0; j < d; ++j) yt[j] += g * o2[j];
      }
    }
    return std::string();
  };
  if (berr.empty()) {
    MeasurePair(ours, base, tp, &r.ours, &r.base);
  } else {
    r.ours = Measure(ours, tp);
    r.base.error = berr;
  }

  // Work of the row: our plan's pairs (the same FLOPs the baseline does up to
  // near-tie differences of its plan).
  usmoe_plan_view v;
  std::memset(&v, 0, sizeof v);
  v.struct_size = sizeof v;
  if (r.ours.ok && usmoe_plan_get_view(plan, &v) == USMOE_STATUS_SUCCESS) {
    int64_t hit = 0;
    for (int64_t e = 0; e < N; ++e) hit += v.expert_offsets[e + 1] > v.expert_offsets[e];
    r.work = MoeFlops(w, T, v.num_selected);
    r.bytes = MoeWeightBytes(w, hit);
  }
  if (r.ours.ok && r.base.ok) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < yb.size(); ++i) {
      worst = std::max(worst, std::fabs(double((*y)[i]) - double(yb[i])));
      scale = std::max(scale, std::fabs(double(yb[i])));
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "max rel diff %.1e", scale > 0 ? worst / scale : worst);
    r.check = buf;
  }
  usmoe_plan_destroy(plan);
  usmoe_router_destroy(router);
  return r;
}

}  // namespace usmoe_bench
