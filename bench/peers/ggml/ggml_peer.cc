// usmoe's llama.cpp/ggml peer: the MoE expert block as llama.cpp's
// build_moe_ffn runs it on a CPU (ggml_mul_mat_id for up and gate,
// swiglu_split, mul_mat_id for down, multiply by the route weights, k-1
// adds over the slots), and ggml's top-k (argsort_top_k) per token and over
// a flattened score matrix. Built against ggml sources fetched from npm by
// build_ggml_peer.sh (never committed here); see bench/README.md.
//
//   usmoe-ggml-peer moe  T d N k f f32|bf16 threads runs   time per forward
//   usmoe-ggml-peer topk T N k threads runs                 per-row top-k
//   usmoe-ggml-peer topc T N c threads runs                 top-c of T·N cells
//   usmoe-ggml-peer check                                    moe against a
//       double-precision reference on a small shape (exit 1 if off)
// Prints one line: "median_ms=<m> min_ms=<m> runs=<n> <what>".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

namespace {

[[noreturn]] void Die(const char* msg) {
  std::fprintf(stderr, "usmoe-ggml-peer: %s\n", msg);
  std::exit(2);
}

int64_t Arg(char** argv, int i, int argc) {
  if (i >= argc) Die("missing argument (run without arguments for usage)");
  char* end = nullptr;
  const long long v = std::strtoll(argv[i], &end, 10);
  if (!end || *end || v < 0) Die("arguments must be non-negative integers");
  return v;
}

struct Timing {
  double median_ms, min_ms;
  int runs;
};

// One warm-up, then `runs` timed computes of the graph.
Timing TimeGraph(lm_ggml_cgraph* gf, int threads, int runs) {
  lm_ggml_cplan plan = lm_ggml_graph_plan(gf, threads, nullptr);
  std::vector<uint8_t> work(plan.work_size + 64);
  plan.work_data = work.data();
  if (lm_ggml_graph_compute(gf, &plan) != LM_GGML_STATUS_SUCCESS) Die("graph compute failed");
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    lm_ggml_graph_compute(gf, &plan);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[0], runs};
}

lm_ggml_context* NewContext(size_t bytes) {
  lm_ggml_init_params p = {bytes, nullptr, false};
  lm_ggml_context* ctx = lm_ggml_init(p);
  if (!ctx) Die("lm_ggml_init failed (out of memory?)");
  return ctx;
}

struct Moe {
  lm_ggml_context* ctx;
  lm_ggml_cgraph* gf;
  lm_ggml_tensor *x, *up, *gate, *down, *ids, *w, *y;
};

// Random inputs: X ~ U(-1, 1); weights ~ U(-1, 1)/sqrt(fan-in); each token
// picks k distinct experts uniformly (an even load, as a balanced router
// gives) with weights summing to 1.
Moe BuildMoe(int64_t T, int64_t d, int64_t N, int64_t k, int64_t f, bool bf16, uint64_t seed) {
  const lm_ggml_type wt = bf16 ? LM_GGML_TYPE_BF16 : LM_GGML_TYPE_F32;
  const size_t wbytes = (bf16 ? 2 : 4) * static_cast<size_t>(3 * d * f * N);
  const size_t act = 4 * static_cast<size_t>(T * k * (3 * f + 3 * d) + T * d * 2);
  Moe m;
  m.ctx = NewContext(wbytes + act + (size_t{256} << 20));
  m.x = lm_ggml_new_tensor_2d(m.ctx, LM_GGML_TYPE_F32, d, T);
  m.up = lm_ggml_new_tensor_3d(m.ctx, wt, d, f, N);
  m.gate = lm_ggml_new_tensor_3d(m.ctx, wt, d, f, N);
  m.down = lm_ggml_new_tensor_3d(m.ctx, wt, f, d, N);
  m.ids = lm_ggml_new_tensor_2d(m.ctx, LM_GGML_TYPE_I32, k, T);
  m.w = lm_ggml_new_tensor_3d(m.ctx, LM_GGML_TYPE_F32, 1, k, T);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto fill = [&](lm_ggml_tensor* t, float scale) {
    const int64_t n = lm_ggml_nelements(t);
    std::vector<float> v(n);
    for (auto& e : v) e = u(rng) * scale;
    if (t->type == LM_GGML_TYPE_BF16) {
      lm_ggml_fp32_to_bf16_row(v.data(), static_cast<lm_ggml_bf16_t*>(t->data), n);
    } else {
      std::memcpy(t->data, v.data(), n * sizeof(float));
    }
  };
  fill(m.x, 1.0f);
  fill(m.up, 1.0f / std::sqrt(float(d)));
  fill(m.gate, 1.0f / std::sqrt(float(d)));
  fill(m.down, 1.0f / std::sqrt(float(f)));
  int32_t* ids = static_cast<int32_t*>(m.ids->data);
  float* w = static_cast<float*>(m.w->data);
  std::vector<int32_t> perm(N);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t e = 0; e < N; ++e) perm[e] = static_cast<int32_t>(e);
    std::shuffle(perm.begin(), perm.end(), rng);
    float sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      ids[t * k + j] = perm[j];
      w[t * k + j] = 0.1f + std::fabs(u(rng));
      sum += w[t * k + j];
    }
    for (int64_t j = 0; j < k; ++j) w[t * k + j] /= sum;
  }
  // llama.cpp's build_moe_ffn, CPU path, no bias, SwiGLU, weights after.
  lm_ggml_tensor* xr = lm_ggml_reshape_3d(m.ctx, m.x, d, 1, T);
  lm_ggml_tensor* up = lm_ggml_mul_mat_id(m.ctx, m.up, xr, m.ids);      // [f, k, T]
  lm_ggml_tensor* gate = lm_ggml_mul_mat_id(m.ctx, m.gate, xr, m.ids);  // [f, k, T]
  lm_ggml_tensor* a = lm_ggml_swiglu_split(m.ctx, gate, up);          // silu(gate)·up
  lm_ggml_tensor* o = lm_ggml_mul_mat_id(m.ctx, m.down, a, m.ids);      // [d, k, T]
  o = lm_ggml_mul(m.ctx, o, m.w);
  lm_ggml_tensor* y = lm_ggml_view_2d(m.ctx, o, d, T, o->nb[2], 0);
  for (int64_t j = 1; j < k; ++j)
    y = lm_ggml_add(m.ctx, y, lm_ggml_view_2d(m.ctx, o, d, T, o->nb[2], j * o->nb[1]));
  m.y = y;
  m.gf = lm_ggml_new_graph(m.ctx);
  lm_ggml_build_forward_expand(m.gf, y);
  return m;
}

float Get(const lm_ggml_tensor* t, int64_t i) {
  if (t->type == LM_GGML_TYPE_BF16) {
    uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(t->data)[i]) << 16;
    float v;
    std::memcpy(&v, &bits, sizeof(v));
    return v;
  }
  return static_cast<const float*>(t->data)[i];
}

// The block in double on the same (decoded) inputs; max relative error
// over the output, normalised by the output's largest magnitude.
int Check() {
  const int64_t T = 3, d = 64, N = 5, k = 2, f = 48;
  int bad = 0;
  for (bool bf16 : {false, true}) {
    Moe m = BuildMoe(T, d, N, k, f, bf16, 7);
    lm_ggml_graph_compute_with_ctx(m.ctx, m.gf, 2);
    std::vector<double> want(T * d, 0.0);
    const int32_t* ids = static_cast<const int32_t*>(m.ids->data);
    const float* w = static_cast<const float*>(m.w->data);
    const float* x = static_cast<const float*>(m.x->data);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t e = ids[t * k + j];
        std::vector<double> h(f);
        for (int64_t r = 0; r < f; ++r) {
          double g = 0, v = 0;
          for (int64_t i = 0; i < d; ++i) {
            g += double(Get(m.gate, (e * f + r) * d + i)) * x[t * d + i];
            v += double(Get(m.up, (e * f + r) * d + i)) * x[t * d + i];
          }
          h[r] = g / (1.0 + std::exp(-g)) * v;
        }
        for (int64_t c = 0; c < d; ++c) {
          double s = 0;
          for (int64_t r = 0; r < f; ++r) s += double(Get(m.down, (e * d + c) * f + r)) * h[r];
          want[t * d + c] += w[t * k + j] * s;
        }
      }
    double scale = 0, err = 0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < d; ++c) {
        const float got = *reinterpret_cast<const float*>(static_cast<const char*>(m.y->data) +
                                                          t * m.y->nb[1] + c * m.y->nb[0]);
        err = std::max(err, std::fabs(got - want[t * d + c]) / scale);
      }
    // bf16 weights: ggml rounds activations to bf16 too (vec_dot_type).
    const double tol = bf16 ? 2e-2 : 1e-5;
    std::printf("check %s: max rel err %.2e (tol %.0e) %s\n", bf16 ? "bf16" : "f32", err, tol,
                err <= tol ? "ok" : "FAILED");
    bad |= err > tol;
    lm_ggml_free(m.ctx);
  }
  return bad;
}

// Scores ~ U(0, 1) as a [N, T] tensor; top-k per token (per = true) or the
// top-c of the flattened T·N cells.
int TopK(int64_t T, int64_t N, int64_t kc, bool per_row, int threads, int runs) {
  lm_ggml_context* ctx = NewContext(static_cast<size_t>(T * N) * 16 + (size_t{64} << 20));
  lm_ggml_tensor* s = lm_ggml_new_tensor_2d(ctx, LM_GGML_TYPE_F32, N, T);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  float* v = static_cast<float*>(s->data);
  for (int64_t i = 0; i < T * N; ++i) v[i] = u(rng);
  lm_ggml_tensor* in = per_row ? s : lm_ggml_reshape_2d(ctx, s, T * N, 1);
  lm_ggml_tensor* top = lm_ggml_argsort_top_k(ctx, in, static_cast<int>(kc));
  lm_ggml_cgraph* gf = lm_ggml_new_graph(ctx);
  lm_ggml_build_forward_expand(gf, top);
  const Timing tm = TimeGraph(gf, threads, runs);
  std::printf("median_ms=%.4f min_ms=%.4f runs=%d %s T=%lld N=%lld %s=%lld threads=%d\n",
              tm.median_ms, tm.min_ms, tm.runs, per_row ? "topk" : "topc", (long long)T,
              (long long)N, per_row ? "k" : "c", (long long)kc, threads);
  lm_ggml_free(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s moe T d N k f f32|bf16 threads runs\n"
                 "       %s topk T N k threads runs\n"
                 "       %s topc T N c threads runs\n"
                 "       %s check\n",
                 argv[0], argv[0], argv[0], argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "check") return Check();
  if (mode == "moe") {
    const int64_t T = Arg(argv, 2, argc), d = Arg(argv, 3, argc), N = Arg(argv, 4, argc);
    const int64_t k = Arg(argv, 5, argc), f = Arg(argv, 6, argc);
    if (argc <= 7) Die("missing dtype");
    const std::string dt = argv[7];
    if (dt != "f32" && dt != "bf16") Die("dtype must be f32 or bf16");
    const int threads = static_cast<int>(Arg(argv, 8, argc)), runs = static_cast<int>(Arg(argv, 9, argc));
    if (T < 1 || d < 1 || N < 1 || k < 1 || k > N || f < 1 || threads < 1 || runs < 1)
      Die("need T, d, N, f, threads, runs >= 1 and 1 <= k <= N");
    Moe m = BuildMoe(T, d, N, k, f, dt == "bf16", 1);
    const Timing tm = TimeGraph(m.gf, threads, runs);
    const double gflop = 6.0 * d * f * k * T / 1e9;
    std::printf("median_ms=%.4f min_ms=%.4f runs=%d moe T=%lld d=%lld N=%lld k=%lld f=%lld %s "
                "threads=%d active_gflops=%.1f\n",
                tm.median_ms, tm.min_ms, tm.runs, (long long)T, (long long)d, (long long)N,
                (long long)k, (long long)f, dt.c_str(), threads, gflop / (tm.median_ms / 1e3));
    lm_ggml_free(m.ctx);
    return 0;
  }
  if (mode == "topk" || mode == "topc") {
    const int64_t T = Arg(argv, 2, argc), N = Arg(argv, 3, argc), kc = Arg(argv, 4, argc);
    const int threads = static_cast<int>(Arg(argv, 5, argc)), runs = static_cast<int>(Arg(argv, 6, argc));
    if (T < 1 || N < 1 || kc < 1 || threads < 1 || runs < 1) Die("sizes must be >= 1");
    if (mode == "topk" ? kc > N : kc > T * N) Die("k (or c) larger than the row (or matrix)");
    return TopK(T, N, kc, mode == "topk", threads, runs);
  }
  Die("unknown mode");
}
