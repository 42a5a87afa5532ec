// libFuzzer harness: usmoe_router_create + usmoe_route through the C ABI.
//
// The input picks T ≤ 64 tokens, N ≤ 32 experts, d ≤ 16 features, the policy,
// k, alpha, expert score, gate normalisation, capacity factor, dtype, group
// sizes, a validity mask, the SIMD target and thread count, and raw float bit
// patterns of X and W (NaN with payloads, ±Inf, denormals, -0.0, ties).
//
// Checked against the header's contract with a brute-force reference:
//   - router_create: INVALID_ARGUMENT exactly for bad config fields,
//     NON_FINITE_INPUT for NaN/Inf in W, the handle untouched on failure;
//   - usmoe_route: INVALID_ARGUMENT for bad groups, NON_FINITE_INPUT for
//     NaN/Inf in X (or logits that overflow f32), the plan untouched on
//     failure;
//   - on success: plan structure (offsets, ascending token ids, counts,
//     loads, per-token view), the scores against a double-precision
//     reference (with an error bound derived from the f32 logits), the
//     selection against a brute-force selection on the plan's own scores
//     (TC top-k per row, EC top-C per column and group, UNIFIED global top-c
//     per group; ties: lower flat index first; budgets per the header), the
//     gate weights per gate_norm, and the plan equal bit for bit to the one
//     of a second router without keep_scores/token_view.
// Build and run: tests/run_fuzz.sh.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_common.h"

namespace {

using fuzz::ByteReader;

struct Problem {
  usmoe_router_config cfg;
  int64_t T = 1;
  std::vector<float> x, w;            // decoded values (bf16 already rounded)
  std::vector<uint16_t> xb, wb;       // bf16 bit patterns when dtype is bf16
  std::vector<int64_t> groups;        // empty + null_groups: one group
  bool null_groups = true;
  int64_t num_groups = 0;
  std::vector<uint8_t> valid;         // empty: all valid
};

float Bf16ToF32(uint16_t b) { return fuzz::FromBits(static_cast<uint32_t>(b) << 16); }

bool AllFinite(const std::vector<float>& v) {
  for (float f : v)
    if (!std::isfinite(f)) return false;
  return true;
}

// Everything a plan view shows, copied (weights and scores as bit patterns).
struct Snapshot {
  int64_t T = -1, N = -1, c = -1;
  std::vector<int64_t> off, ids, counts, loads, toff, texp;
  std::vector<uint32_t> w, tw;
  bool operator==(const Snapshot& o) const {
    return T == o.T && N == o.N && c == o.c && off == o.off && ids == o.ids &&
           counts == o.counts && loads == o.loads && w == o.w;
  }
};

template <class V>
std::vector<V> Copy(const V* p, int64_t n) {
  return p && n > 0 ? std::vector<V>(p, p + n) : std::vector<V>();
}
std::vector<uint32_t> CopyBits(const float* p, int64_t n) {
  std::vector<uint32_t> b(p && n > 0 ? n : 0);
  if (!b.empty()) std::memcpy(b.data(), p, 4 * b.size());
  return b;
}

usmoe_plan_view View(const usmoe_plan* plan) {
  usmoe_plan_view v;
  std::memset(&v, 0, sizeof(v));
  v.struct_size = sizeof(v);
  FUZZ_CHECK(usmoe_plan_get_view(plan, &v) == USMOE_STATUS_SUCCESS);
  return v;
}

Snapshot Snap(const usmoe_plan* plan) {
  const usmoe_plan_view v = View(plan);
  Snapshot s;
  s.T = v.num_tokens;
  s.N = v.num_experts;
  s.c = v.num_selected;
  s.off = Copy(v.expert_offsets, s.N + 1);
  s.ids = Copy(v.token_ids, s.c);
  s.w = CopyBits(v.weights, s.c);
  s.counts = Copy(v.token_counts, s.T);
  s.loads = Copy(v.expert_loads, s.N);
  return s;
}

void Decode(ByteReader& r, Problem* p) {
  const uint8_t pol = r.U8();
  const usmoe_policy policy = pol % 3;
  FUZZ_CHECK(usmoe_router_config_init(&p->cfg, policy) == USMOE_STATUS_SUCCESS);
  usmoe_router_config& c = p->cfg;
  c.num_experts = 1 + r.U8() % 32;
  c.dim = 1 + r.U8() % 16;
  p->T = 1 + r.U8() % 64;
  const int64_t N = c.num_experts;
  c.dtype = (r.U8() % 4 == 3) ? USMOE_DTYPE_BF16 : USMOE_DTYPE_F32;
  const uint8_t km = r.U8();
  switch (km % 8) {
    case 0: case 1: case 2: c.k = 1 + r.U8() % N; break;                   // integer
    case 3: case 4: c.k = r.U8() / 8.0; break;                               // often fractional
    case 5: c.k = (r.U8() % (4 * N + 1)) / 4.0; break;                       // quarter steps
    case 6: c.k = 1.0; break;
    default: c.k = static_cast<double>(N) + (r.U8() % 3) - 1; break;         // N-1, N, N+1
  }
  const uint8_t am = r.U8();
  switch (am % 5) {
    case 0: c.alpha = 0.0; break;
    case 1: c.alpha = 1.0; break;
    case 2: break;  // the policy's default
    default: c.alpha = r.U8() / 255.0; break;
  }
  c.expert_score = r.U8() % 2;
  c.gate_norm = r.U8() % 3;
  c.capacity_factor = (1 + r.U8()) / 64.0;
  c.keep_scores = 1;
  c.token_view = 1;
  // Rarely, one field made invalid (or a NaN/Inf double).
  const uint8_t corrupt = r.U8();
  if (corrupt >= 240) {
    const double nan = std::nan("");
    switch (corrupt % 10) {
      case 0: c.policy = 3 + r.U8(); break;
      case 1: c.dtype = 2 + r.U8() % 5; break;
      case 2: c.alpha = (r.U8() & 1) ? -0.25 : (r.U8() & 1) ? 1.5 : nan; break;
      case 3: c.k = (r.U8() & 1) ? -1.0 : (r.U8() & 1) ? nan : INFINITY; break;
      case 4: c.expert_score = 2 + r.U8() % 3; break;
      case 5: c.gate_norm = -1 - r.U8() % 3; break;
      case 6: c.capacity_factor = (r.U8() & 1) ? 0.0 : (r.U8() & 1) ? -1.0 : nan; break;
      case 7: c.num_experts = -static_cast<int64_t>(r.U8() % 2); break;
      case 8: c.dim = 0; break;
      default: c.struct_size = 8 * (r.U8() % 12); break;
    }
  }
  const int64_t Nn = std::max<int64_t>(c.num_experts, 1), d = std::max<int64_t>(c.dim, 1);
  const bool specials = r.U8() < 40;  // otherwise NaN/Inf are rare in X and W
  const bool bf16 = c.dtype == USMOE_DTYPE_BF16;
  auto fill = [&](std::vector<float>& v, std::vector<uint16_t>& b, int64_t n) {
    v.resize(n);
    if (bf16) b.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      float f = fuzz::NextFloat(r, specials || r.U8() == 0);
      if (bf16) {
        b[i] = static_cast<uint16_t>(fuzz::ToBits(f) >> 16);  // truncation: NaN may become Inf
        f = Bf16ToF32(b[i]);
      }
      v[i] = f;
    }
  };
  fill(p->w, p->wb, Nn * d);
  fill(p->x, p->xb, p->T * d);
  // Groups: none, or 1..6 sizes summing to T (empty groups allowed).
  const uint8_t gm = r.U8();
  if (gm % 3 != 0) {
    p->null_groups = false;
    const int64_t G = 1 + gm % 6;
    int64_t left = p->T;
    for (int64_t g = 0; g + 1 < G; ++g) {
      const int64_t s = (r.U8() % 4 == 0) ? 0 : r.U8() % (left + 1);
      p->groups.push_back(s);
      left -= s;
    }
    p->groups.push_back(left);
    p->num_groups = G;
    const uint8_t bad = r.U8();
    if (bad == 255) p->groups[0] += 1;                           // sum != T
    else if (bad == 254 && G > 1) { p->groups[0] -= p->groups[0] + 1; p->groups[1] += 1; }
    else if (bad == 253) p->num_groups = 0;                      // non-NULL with 0 groups
  } else if (r.U8() == 255) {
    p->num_groups = 1;  // NULL group_sizes with num_groups != 0
  }
  const uint8_t vm = r.U8();
  if (vm % 2) {
    p->valid.resize(p->T);
    const uint8_t density = r.U8();
    for (int64_t t = 0; t < p->T; ++t) p->valid[t] = (r.U8() <= density) ? (1 + r.U8() % 255) : 0;
  }
}

bool ConfigValid(const usmoe_router_config& c) {
  if (c.struct_size != static_cast<int64_t>(sizeof(usmoe_router_config))) return false;
  if (c.num_experts < 1 || c.dim < 1) return false;
  if (c.policy < 0 || c.policy > 2) return false;
  if (c.dtype != USMOE_DTYPE_F32 && c.dtype != USMOE_DTYPE_BF16) return false;
  if (c.expert_score != 0 && c.expert_score != 1) return false;
  if (c.gate_norm < 0 || c.gate_norm > 2) return false;
  if (!(c.alpha >= 0.0 && c.alpha <= 1.0)) return false;
  const double n = static_cast<double>(c.num_experts);
  switch (c.policy) {
    case USMOE_POLICY_TOKEN_CHOICE:
      return c.k == std::floor(c.k) && c.k >= 1.0 && c.k <= n;
    case USMOE_POLICY_EXPERT_CHOICE:
      return c.k > 0.0 && c.k <= n && std::isfinite(c.capacity_factor) &&
             c.capacity_factor > 0.0;
    default:
      return c.k >= 0.0 && c.k <= n;
  }
}

bool GroupsValid(const Problem& p, std::vector<int64_t>* offsets) {
  offsets->assign(1, 0);
  if (p.null_groups) {
    if (p.num_groups != 0) return false;
    offsets->push_back(p.T);
    return true;
  }
  if (p.num_groups < 1) return false;
  int64_t sum = 0;
  for (int64_t g = 0; g < p.num_groups; ++g) {
    if (p.groups[g] < 0) return false;
    sum += p.groups[g];
    offsets->push_back(sum);
  }
  return sum == p.T;
}

// Budgets near a rounding edge: the values the header's formula can give
// when evaluated in double in any order.
void Allowed(double v, bool ceil_mode, int64_t cap, int64_t* lo, int64_t* hi) {
  const double a = v * (1 - 1e-12), b = v * (1 + 1e-12);
  double x = ceil_mode ? std::ceil(a) : std::floor(a + 0.5);
  double y = ceil_mode ? std::ceil(b) : std::floor(b + 0.5);
  *lo = std::min<int64_t>(cap, static_cast<int64_t>(std::max(0.0, x)));
  *hi = std::min<int64_t>(cap, static_cast<int64_t>(std::max(0.0, y)));
}

void CheckPlan(const Problem& p, const std::vector<int64_t>& offsets, const usmoe_plan* plan,
               bool logits_exact_enough, const std::vector<double>& Lref,
               const std::vector<double>& Lerr) {
  const usmoe_router_config& c = p.cfg;
  const int64_t T = p.T, N = c.num_experts;
  const usmoe_plan_view v = View(plan);
  FUZZ_CHECK(v.num_tokens == T && v.num_experts == N);
  const int64_t sel_n = v.num_selected;
  FUZZ_CHECK(sel_n >= 0 && sel_n <= T * N);
  FUZZ_CHECK(v.expert_offsets && v.token_counts && v.expert_loads && v.scores);
  FUZZ_LOG("num_selected=%lld token_offsets=%p\n", (long long)sel_n, (const void*)v.token_offsets);
  FUZZ_CHECK(v.token_offsets);
  FUZZ_CHECK(sel_n == 0 || (v.token_experts && v.token_weights));
  FUZZ_CHECK(sel_n == 0 || (v.token_ids && v.weights));
  auto is_valid = [&](int64_t t) { return p.valid.empty() || p.valid[t] != 0; };

  // Structure of the expert-major plan.
  FUZZ_CHECK(v.expert_offsets[0] == 0 && v.expert_offsets[N] == sel_n);
  std::vector<uint8_t> sel(T * N, 0);
  std::vector<int64_t> count(T, 0);
  std::vector<float> wgt(T * N, 0.0f);
  for (int64_t e = 0; e < N; ++e) {
    const int64_t b = v.expert_offsets[e], en = v.expert_offsets[e + 1];
    FUZZ_CHECK(b <= en);
    FUZZ_CHECK(v.expert_loads[e] == en - b);
    for (int64_t i = b; i < en; ++i) {
      const int64_t t = v.token_ids[i];
      FUZZ_CHECK(t >= 0 && t < T);
      FUZZ_CHECK(i == b || v.token_ids[i - 1] < t);  // ascending, no duplicate
      FUZZ_CHECK(is_valid(t));                        // padding gets no expert
      sel[t * N + e] = 1;
      ++count[t];
      wgt[t * N + e] = v.weights[i];
    }
  }
  for (int64_t t = 0; t < T; ++t) FUZZ_CHECK(v.token_counts[t] == count[t]);
  // The per-token view: the same cells and weights, experts ascending.
  FUZZ_CHECK(v.token_offsets[0] == 0 && v.token_offsets[T] == sel_n);
  for (int64_t t = 0; t < T; ++t) {
    FUZZ_CHECK(v.token_offsets[t + 1] - v.token_offsets[t] == count[t]);
    for (int64_t i = v.token_offsets[t]; i < v.token_offsets[t + 1]; ++i) {
      const int64_t e = v.token_experts[i];
      FUZZ_CHECK(e >= 0 && e < N && sel[t * N + e]);
      FUZZ_CHECK(i == v.token_offsets[t] || v.token_experts[i - 1] < e);
      FUZZ_CHECK(fuzz::ToBits(v.token_weights[i]) == fuzz::ToBits(wgt[t * N + e]));
    }
  }

  // Scores: finite, in range, and close to the double reference where the
  // f32 logits are accurate enough to say.
  const float* S = v.scores;
  const double alpha = c.alpha;
  // f_t <= 1, and f_e <= 1 (softmax over tokens) or sigmoid·2/N <= 2/N,
  // which exceeds 1 when N = 1: U <= (1-α) + α·max(1, 2/N).
  const float s_max = static_cast<float>((1.0 - alpha) + alpha * std::max(1.0, 2.0 / N)) + 1e-5f;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e) {
      if (!is_valid(t)) continue;
      const float s = S[t * N + e];
      if (!(std::isfinite(s) && s >= 0.0f && s <= s_max))
        FUZZ_LOG("score[%lld][%lld] = %g\n", (long long)t, (long long)e, s);
      FUZZ_CHECK(std::isfinite(s) && s >= 0.0f && s <= s_max);
    }
  if (logits_exact_enough) {
    for (size_t g = 0; g + 1 < offsets.size(); ++g) {
      const int64_t r0 = offsets[g], r1 = offsets[g + 1];
      double err = 0;  // the largest logit error bound in the group
      for (int64_t t = r0; t < r1; ++t)
        for (int64_t e = 0; e < N; ++e) err = std::max(err, Lerr[t * N + e]);
      if (err > 1e-3) continue;
      const double tol = 3e-5 + 4 * err;
      std::vector<double> colmax(N, -INFINITY), colsum(N, 0.0);
      if (c.expert_score == USMOE_EXPERT_SCORE_SOFTMAX_TOKENS) {
        for (int64_t t = r0; t < r1; ++t)
          if (is_valid(t))
            for (int64_t e = 0; e < N; ++e) colmax[e] = std::max(colmax[e], Lref[t * N + e]);
        for (int64_t t = r0; t < r1; ++t)
          if (is_valid(t))
            for (int64_t e = 0; e < N; ++e) colsum[e] += std::exp(Lref[t * N + e] - colmax[e]);
      }
      for (int64_t t = r0; t < r1; ++t) {
        if (!is_valid(t)) continue;
        double m = -INFINITY, sum = 0;
        for (int64_t e = 0; e < N; ++e) m = std::max(m, Lref[t * N + e]);
        for (int64_t e = 0; e < N; ++e) sum += std::exp(Lref[t * N + e] - m);
        for (int64_t e = 0; e < N; ++e) {
          const double L = Lref[t * N + e];
          const double ft = std::exp(L - m) / sum;
          const double fe = c.expert_score == USMOE_EXPERT_SCORE_SIGMOID
                                ? 2.0 / N / (1.0 + std::exp(-L))
                                : std::exp(L - colmax[e]) / colsum[e];
          const double u = (1 - alpha) * ft + alpha * fe;
          FUZZ_CHECK(std::fabs(S[t * N + e] - u) <= tol);
        }
      }
    }
  }

  // Selection: brute force on the plan's own scores.
  std::vector<uint8_t> want(T * N, 0);
  std::vector<int64_t> idx;
  auto take = [&](const std::vector<int64_t>& cells, int64_t c_take) {
    idx = cells;
    fuzz::SortByRule(S, idx);
    for (int64_t i = 0; i < c_take; ++i) want[idx[i]] = 1;
  };
  for (size_t g = 0; g + 1 < offsets.size(); ++g) {
    const int64_t r0 = offsets[g], r1 = offsets[g + 1];
    int64_t tv = 0;
    for (int64_t t = r0; t < r1; ++t) tv += is_valid(t);
    if (c.policy == USMOE_POLICY_TOKEN_CHOICE) {
      const int64_t k = static_cast<int64_t>(c.k);
      for (int64_t t = r0; t < r1; ++t) {
        if (!is_valid(t)) continue;
        std::vector<int64_t> cells;
        for (int64_t e = 0; e < N; ++e) cells.push_back(t * N + e);
        take(cells, k);
      }
    } else if (c.policy == USMOE_POLICY_EXPERT_CHOICE) {
      if (tv == 0) continue;
      int64_t lo, hi;
      Allowed(c.capacity_factor * c.k * static_cast<double>(tv) / static_cast<double>(N), true,
              tv, &lo, &hi);
      int64_t cap = -1;  // the capacity the plan used: the same for every expert
      for (int64_t e = 0; e < N; ++e) {
        int64_t got = 0;
        std::vector<int64_t> cells;
        for (int64_t t = r0; t < r1; ++t)
          if (is_valid(t)) {
            cells.push_back(t * N + e);
            got += sel[t * N + e];
          }
        FUZZ_CHECK(cap < 0 || got == cap);
        cap = got;
        take(cells, got);
      }
      FUZZ_CHECK(cap >= lo && cap <= hi);
    } else {
      int64_t lo, hi;
      Allowed(c.k * static_cast<double>(tv), false, tv * N, &lo, &hi);
      std::vector<int64_t> cells;
      int64_t got = 0;
      for (int64_t t = r0; t < r1; ++t)
        if (is_valid(t))
          for (int64_t e = 0; e < N; ++e) {
            cells.push_back(t * N + e);
            got += sel[t * N + e];
          }
      FUZZ_CHECK(got >= lo && got <= hi);
      take(cells, got);
    }
  }
  for (int64_t i = 0; i < T * N; ++i) {
    if (sel[i] != want[i])
      FUZZ_LOG("cell t=%lld e=%lld score %a: selected %d, reference %d\n", (long long)(i / N),
               (long long)(i % N), S[i], sel[i], want[i]);
  }
  for (int64_t i = 0; i < T * N; ++i) FUZZ_CHECK(sel[i] == want[i]);

  // Gate weights.
  for (int64_t t = 0; t < T; ++t) {
    double sum_sel = 0, sum_all = 0;
    for (int64_t e = 0; e < N; ++e) {
      sum_all += S[t * N + e];
      if (sel[t * N + e]) sum_sel += S[t * N + e];
    }
    for (int64_t e = 0; e < N; ++e) {
      if (!sel[t * N + e]) continue;
      const float w = wgt[t * N + e];
      FUZZ_CHECK(!std::isnan(w));
      if (c.gate_norm == USMOE_GATE_NORM_NONE) {
        FUZZ_CHECK(w == S[t * N + e]);
      } else {
        const double den = c.gate_norm == USMOE_GATE_NORM_SELECTED ? sum_sel : sum_all;
        if (den > 1e-30) {
          const double want_w = S[t * N + e] / den;
          FUZZ_CHECK(std::fabs(w - want_w) <= 1e-5 * want_w + 1e-6);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  usmoe_set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader r(data, size);
  fuzz::PickTarget(r.U8());
  FUZZ_CHECK(usmoe_set_num_threads(1 + r.U8() % 2) == USMOE_STATUS_SUCCESS);
  Problem p;
  Decode(r, &p);
  const usmoe_router_config& c = p.cfg;
  const bool bf16 = c.dtype == USMOE_DTYPE_BF16;
  FUZZ_LOG("policy=%d N=%lld d=%lld T=%lld dtype=%d k=%g alpha=%g score=%d norm=%d cf=%g "
           "size=%lld groups=%s num_groups=%lld mask=%d\n",
           c.policy, (long long)c.num_experts, (long long)c.dim, (long long)p.T, c.dtype, c.k,
           c.alpha, c.expert_score, c.gate_norm, c.capacity_factor, (long long)c.struct_size,
           p.null_groups ? "NULL" : "given", (long long)p.num_groups, !p.valid.empty());
  for (size_t g = 0; g < p.groups.size(); ++g) FUZZ_LOG(" group %zu: %lld\n", g, (long long)p.groups[g]);

  // ---- router_create
  usmoe_router* const kSentinel = reinterpret_cast<usmoe_router*>(uintptr_t{0x5a5a5a5a});
  usmoe_router* router = kSentinel;
  const void* w = bf16 ? static_cast<const void*>(p.wb.data()) : p.w.data();
  const usmoe_status cs = usmoe_router_create(&c, w, &router);
  const bool cfg_ok = ConfigValid(c);
  const bool w_ok = AllFinite(p.w);
  if (!cfg_ok || !w_ok) {
    FUZZ_CHECK((!cfg_ok && cs == USMOE_STATUS_INVALID_ARGUMENT) ||
               (!w_ok && cs == USMOE_STATUS_NON_FINITE_INPUT));
    FUZZ_CHECK(router == kSentinel);
    return 0;
  }
  FUZZ_CHECK(cs == USMOE_STATUS_SUCCESS);
  FUZZ_CHECK(router != kSentinel && router != nullptr);

  // A twin router without keep_scores / token_view must give the same plan.
  usmoe_router_config c2 = c;
  c2.keep_scores = 0;
  c2.token_view = 0;
  usmoe_router* twin = nullptr;
  FUZZ_CHECK(usmoe_router_create(&c2, w, &twin) == USMOE_STATUS_SUCCESS);

  // ---- a previous, successful route into the plan: it must survive a failure.
  usmoe_plan* plan = nullptr;
  FUZZ_CHECK(usmoe_plan_create(&plan) == USMOE_STATUS_SUCCESS);
  {
    std::vector<float> x0(c.dim, 0.0f);
    std::vector<uint16_t> x0b(c.dim, 0);
    const void* xp = bf16 ? static_cast<const void*>(x0b.data()) : x0.data();
    FUZZ_CHECK(usmoe_route(router, xp, 1, nullptr, 0, nullptr, plan) == USMOE_STATUS_SUCCESS);
  }
  const Snapshot before = Snap(plan);

  // ---- usmoe_route
  const int64_t T = p.T, N = c.num_experts, d = c.dim;
  const void* x = bf16 ? static_cast<const void*>(p.xb.data()) : p.x.data();
  const usmoe_status rs =
      usmoe_route(router, x, T, p.null_groups ? nullptr : p.groups.data(), p.num_groups,
                  p.valid.empty() ? nullptr : p.valid.data(), plan);

  std::vector<int64_t> offsets;
  const bool groups_ok = GroupsValid(p, &offsets);
  const bool x_ok = AllFinite(p.x);
  // Reference logits in double and a bound on the f32 accumulation error.
  std::vector<double> Lref(T * N), Lerr(T * N);
  bool surely_finite = true, maybe_finite = true;
  if (x_ok) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < N; ++e) {
        double s = 0, a = 0, flushed = 0;
        for (int64_t i = 0; i < d; ++i) {
          const float xi = p.x[t * d + i], wi = p.w[e * d + i];
          const double pr = static_cast<double>(xi) * wi;
          s += pr;
          a += std::fabs(pr);
          // bf16 routers may run vdpbf16ps, which reads denormal inputs as 0
          // (the bound documented in usmoe.h and src/gemm/gemm_bf16.h).
          if (bf16 && (std::fpclassify(xi) == FP_SUBNORMAL || std::fpclassify(wi) == FP_SUBNORMAL))
            flushed += std::fabs(pr);
        }
        Lref[t * N + e] = s;
        Lerr[t * N + e] = 2.0 * (d + 2) * std::ldexp(1.0, -24) * a + flushed +
                          (bf16 ? d * std::ldexp(1.0, -126) : 0.0) + 1e-37;
        if (a >= 1e37) surely_finite = false;        // f32 may overflow on the way
        if (std::fabs(s) > 4e38) maybe_finite = false;  // far past FLT_MAX
      }
  }
  for (int64_t t = 0; t < T && FuzzVerbose() && x_ok; ++t) {
    FUZZ_LOG("L[%lld]:", (long long)t);
    for (int64_t e = 0; e < N; ++e) FUZZ_LOG(" %g", Lref[t * N + e]);
    FUZZ_LOG("\n");
  }
  FUZZ_LOG("status=%d groups_ok=%d x_ok=%d surely_finite=%d maybe_finite=%d\n", rs, groups_ok,
           x_ok, surely_finite, maybe_finite);
  if (!groups_ok || !x_ok || !surely_finite) {
    if (!groups_ok || !x_ok || !maybe_finite) FUZZ_CHECK(rs != USMOE_STATUS_SUCCESS);
    if (rs != USMOE_STATUS_SUCCESS) {
      FUZZ_CHECK((!groups_ok && rs == USMOE_STATUS_INVALID_ARGUMENT) ||
                 ((!x_ok || !surely_finite) && rs == USMOE_STATUS_NON_FINITE_INPUT));
      FUZZ_CHECK(Snap(plan) == before);  // untouched
      usmoe_plan_destroy(plan);
      usmoe_router_destroy(router);
      usmoe_router_destroy(twin);
      return 0;
    }
  }
  FUZZ_CHECK(rs == USMOE_STATUS_SUCCESS);
  CheckPlan(p, offsets, plan, surely_finite, Lref, Lerr);

  usmoe_plan* plan2 = nullptr;
  FUZZ_CHECK(usmoe_plan_create(&plan2) == USMOE_STATUS_SUCCESS);
  FUZZ_CHECK(usmoe_route(twin, x, T, p.null_groups ? nullptr : p.groups.data(), p.num_groups,
                         p.valid.empty() ? nullptr : p.valid.data(),
                         plan2) == USMOE_STATUS_SUCCESS);
  FUZZ_CHECK(Snap(plan2) == Snap(plan));
  const usmoe_plan_view v2 = View(plan2);
  FUZZ_CHECK(v2.scores == nullptr && v2.token_offsets == nullptr);

  usmoe_plan_destroy(plan2);
  usmoe_plan_destroy(plan);
  usmoe_router_destroy(router);
  usmoe_router_destroy(twin);
  return 0;
}
