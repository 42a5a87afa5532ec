// The double-precision reference. See oracle.h. Nothing here is shared with
// src/: every stage is the textbook formula, written out.
#include "oracle/oracle.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace oracle {
namespace {

// Group start offsets (G+1 entries); empty sizes = one group of all T.
std::vector<int64_t> GroupOffsets(const std::vector<int64_t>& sizes, int64_t T) {
  std::vector<int64_t> off{0};
  if (sizes.empty()) {
    off.push_back(T);
    return off;
  }
  for (int64_t s : sizes) off.push_back(off.back() + s);
  if (off.back() != T) throw std::invalid_argument("oracle: group sizes do not sum to T");
  return off;
}

bool IsValid(const std::vector<uint8_t>& valid, int64_t t) {
  return valid.empty() || valid[static_cast<size_t>(t)] != 0;
}

struct Cell {
  float score;
  int64_t index;  // flat index t*N + e
};

// Sorts cells best first and returns the indices of the first `count`.
std::vector<int64_t> Best(std::vector<Cell> cells, int64_t count) {
  std::sort(cells.begin(), cells.end(), [](const Cell& a, const Cell& b) {
    return Before(a.score, a.index, b.score, b.index);
  });
  std::vector<int64_t> out;
  for (int64_t i = 0; i < count && i < static_cast<int64_t>(cells.size()); ++i)
    out.push_back(cells[static_cast<size_t>(i)].index);
  return out;
}

double Silu(double v) { return v / (1.0 + std::exp(-v)); }
double GeluTanh(double v) {
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v)));
}
double GeluErf(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }
double Relu(double v) { return v > 0.0 ? v : 0.0; }

}  // namespace

double Bf16ToDouble(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return static_cast<double>(f);
}

std::vector<double> Logits(const float* x, const float* w, int64_t T, int64_t N, int64_t d) {
  std::vector<double> L(static_cast<size_t>(T * N));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e) {
      double acc = 0.0;
      for (int64_t i = 0; i < d; ++i)
        acc += static_cast<double>(x[t * d + i]) * static_cast<double>(w[e * d + i]);
      L[static_cast<size_t>(t * N + e)] = acc;
    }
  return L;
}

std::vector<double> LogitsBf16(const uint16_t* x, const uint16_t* w, int64_t T, int64_t N,
                               int64_t d) {
  std::vector<double> L(static_cast<size_t>(T * N));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e) {
      double acc = 0.0;
      for (int64_t i = 0; i < d; ++i)
        acc += Bf16ToDouble(x[t * d + i]) * Bf16ToDouble(w[e * d + i]);
      L[static_cast<size_t>(t * N + e)] = acc;
    }
  return L;
}

std::vector<double> LogitsAbsScale(const float* x, const float* w, int64_t T, int64_t N,
                                   int64_t d) {
  std::vector<double> S(static_cast<size_t>(T * N));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < N; ++e) {
      double acc = 0.0;
      for (int64_t i = 0; i < d; ++i)
        acc += std::fabs(static_cast<double>(x[t * d + i]) * static_cast<double>(w[e * d + i]));
      S[static_cast<size_t>(t * N + e)] = acc;
    }
  return S;
}

std::vector<double> SoftmaxRows(const std::vector<double>& L, int64_t T, int64_t N) {
  std::vector<double> P(L.size());
  for (int64_t t = 0; t < T; ++t) {
    const double* row = &L[static_cast<size_t>(t * N)];
    const double m = *std::max_element(row, row + N);
    double sum = 0.0;
    for (int64_t e = 0; e < N; ++e) sum += std::exp(row[e] - m);
    for (int64_t e = 0; e < N; ++e) P[static_cast<size_t>(t * N + e)] = std::exp(row[e] - m) / sum;
  }
  return P;
}

std::vector<double> SigmoidScore(const std::vector<double>& L, int64_t T, int64_t N) {
  std::vector<double> S(L.size());
  for (int64_t i = 0; i < T * N; ++i) {
    const double v = L[static_cast<size_t>(i)];
    const double sig = v >= 0.0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
    S[static_cast<size_t>(i)] = sig * 2.0 / static_cast<double>(N);
  }
  return S;
}

std::vector<double> SoftmaxTokens(const std::vector<double>& L, int64_t T, int64_t N,
                                  const std::vector<int64_t>& group_sizes,
                                  const std::vector<uint8_t>& valid) {
  std::vector<double> S(L.size(), 0.0);
  const std::vector<int64_t> off = GroupOffsets(group_sizes, T);
  for (size_t g = 0; g + 1 < off.size(); ++g) {
    for (int64_t e = 0; e < N; ++e) {
      double m = -INFINITY;
      for (int64_t t = off[g]; t < off[g + 1]; ++t)
        if (IsValid(valid, t)) m = std::max(m, L[static_cast<size_t>(t * N + e)]);
      if (m == -INFINITY) continue;  // no valid token in this group
      double sum = 0.0;
      for (int64_t t = off[g]; t < off[g + 1]; ++t)
        if (IsValid(valid, t)) sum += std::exp(L[static_cast<size_t>(t * N + e)] - m);
      for (int64_t t = off[g]; t < off[g + 1]; ++t)
        if (IsValid(valid, t))
          S[static_cast<size_t>(t * N + e)] = std::exp(L[static_cast<size_t>(t * N + e)] - m) / sum;
    }
  }
  return S;
}

std::vector<double> UnifiedScores(const std::vector<double>& L, int64_t T, int64_t N,
                                  double alpha, ExpertScore expert_score,
                                  const std::vector<int64_t>& group_sizes,
                                  const std::vector<uint8_t>& valid) {
  const std::vector<double> ft = SoftmaxRows(L, T, N);
  const std::vector<double> fe = expert_score == ExpertScore::kSigmoid
                                     ? SigmoidScore(L, T, N)
                                     : SoftmaxTokens(L, T, N, group_sizes, valid);
  std::vector<double> U(L.size());
  for (size_t i = 0; i < U.size(); ++i) U[i] = (1.0 - alpha) * ft[i] + alpha * fe[i];
  return U;
}

int64_t ExpertChoiceCapacity(double capacity_factor, double k, int64_t Tv, int64_t N) {
  const double c = std::ceil((capacity_factor * k * static_cast<double>(Tv)) /
                             static_cast<double>(N));
  return std::min(Tv, static_cast<int64_t>(c));
}

int64_t UnifiedBudget(double k, int64_t Tv, int64_t N) {
  const double c = std::floor(k * static_cast<double>(Tv) + 0.5);
  return std::min(Tv * N, static_cast<int64_t>(c));
}

bool Before(float score_a, int64_t index_a, float score_b, int64_t index_b) {
  // Float comparison: -0.0 == +0.0 as IEEE says.
  if (score_a > score_b) return true;
  if (score_a < score_b) return false;
  return index_a < index_b;
}

std::vector<int64_t> TopCGlobal(const float* values, int64_t n, int64_t c) {
  std::vector<Cell> cells;
  for (int64_t i = 0; i < n; ++i) cells.push_back({values[i], i});
  std::vector<int64_t> out = Best(cells, c);
  std::sort(out.begin(), out.end());
  return out;
}

void TopKRows(const float* scores, int64_t T, int64_t N, int64_t k, std::vector<int64_t>* ids,
              std::vector<float>* values) {
  ids->clear();
  values->clear();
  for (int64_t t = 0; t < T; ++t) {
    std::vector<Cell> cells;
    for (int64_t e = 0; e < N; ++e) cells.push_back({scores[t * N + e], e});  // index = expert
    for (int64_t e : Best(cells, k)) {
      ids->push_back(e);
      values->push_back(scores[t * N + e]);
    }
  }
}

void TopCCols(const float* scores, int64_t T, int64_t N, int64_t C, std::vector<int64_t>* ids,
              std::vector<float>* values) {
  ids->clear();
  values->clear();
  for (int64_t e = 0; e < N; ++e) {
    std::vector<Cell> cells;
    for (int64_t t = 0; t < T; ++t) cells.push_back({scores[t * N + e], t});  // index = token
    for (int64_t t : Best(cells, C)) {
      ids->push_back(t);
      values->push_back(scores[t * N + e]);
    }
  }
}

std::vector<uint8_t> Select(Policy policy, const float* scores, int64_t T, int64_t N, double k,
                            double capacity_factor, const std::vector<int64_t>& group_sizes,
                            const std::vector<uint8_t>& valid) {
  std::vector<uint8_t> sel(static_cast<size_t>(T * N), 0);
  const std::vector<int64_t> off = GroupOffsets(group_sizes, T);
  for (size_t g = 0; g + 1 < off.size(); ++g) {
    const int64_t t0 = off[g], t1 = off[g + 1];
    int64_t Tv = 0;
    for (int64_t t = t0; t < t1; ++t) Tv += IsValid(valid, t) ? 1 : 0;
    switch (policy) {
      case Policy::kTokenChoice: {
        const int64_t kk = static_cast<int64_t>(k);
        if (static_cast<double>(kk) != k) throw std::invalid_argument("oracle: fractional TC k");
        for (int64_t t = t0; t < t1; ++t) {
          if (!IsValid(valid, t)) continue;
          std::vector<Cell> cells;
          for (int64_t e = 0; e < N; ++e) cells.push_back({scores[t * N + e], t * N + e});
          for (int64_t i : Best(cells, kk)) sel[static_cast<size_t>(i)] = 1;
        }
        break;
      }
      case Policy::kExpertChoice: {
        const int64_t C = ExpertChoiceCapacity(capacity_factor, k, Tv, N);
        for (int64_t e = 0; e < N; ++e) {
          std::vector<Cell> cells;
          for (int64_t t = t0; t < t1; ++t)
            if (IsValid(valid, t)) cells.push_back({scores[t * N + e], t * N + e});
          for (int64_t i : Best(cells, C)) sel[static_cast<size_t>(i)] = 1;
        }
        break;
      }
      case Policy::kUnified: {
        const int64_t c = UnifiedBudget(k, Tv, N);
        std::vector<Cell> cells;
        for (int64_t t = t0; t < t1; ++t)
          if (IsValid(valid, t))
            for (int64_t e = 0; e < N; ++e) cells.push_back({scores[t * N + e], t * N + e});
        for (int64_t i : Best(cells, c)) sel[static_cast<size_t>(i)] = 1;
        break;
      }
    }
  }
  return sel;
}

Plan BuildPlan(const std::vector<uint8_t>& selected, const float* scores, int64_t T, int64_t N,
               GateNorm norm) {
  Plan p;
  p.T = T;
  p.N = N;
  auto sel = [&](int64_t t, int64_t e) { return selected[static_cast<size_t>(t * N + e)] != 0; };
  // Gate weight of a selected cell.
  auto gate = [&](int64_t t, int64_t e) {
    const double s = scores[t * N + e];
    double denom = 1.0;
    if (norm == GateNorm::kSelected) {
      denom = 0.0;
      for (int64_t j = 0; j < N; ++j)
        if (sel(t, j)) denom += scores[t * N + j];
    } else if (norm == GateNorm::kAll) {
      denom = 0.0;
      for (int64_t j = 0; j < N; ++j) denom += scores[t * N + j];
    }
    return s / denom;
  };
  p.expert_offsets.push_back(0);
  for (int64_t e = 0; e < N; ++e) {
    int64_t load = 0;
    for (int64_t t = 0; t < T; ++t)
      if (sel(t, e)) {
        p.token_ids.push_back(t);
        p.weights.push_back(gate(t, e));
        ++load;
      }
    p.expert_loads.push_back(load);
    p.expert_offsets.push_back(p.expert_offsets.back() + load);
  }
  p.token_offsets.push_back(0);
  for (int64_t t = 0; t < T; ++t) {
    int64_t count = 0;
    for (int64_t e = 0; e < N; ++e)
      if (sel(t, e)) {
        p.token_experts.push_back(e);
        p.token_weights.push_back(gate(t, e));
        ++count;
      }
    p.token_counts.push_back(count);
    p.token_offsets.push_back(p.token_offsets.back() + count);
  }
  return p;
}

std::vector<double> Ffn(Activation act, const double* w1, const double* w3, const double* w2,
                        int64_t d, int64_t f, const float* x) {
  std::vector<double> h(static_cast<size_t>(f));
  for (int64_t j = 0; j < f; ++j) {
    double a = 0.0;
    for (int64_t i = 0; i < d; ++i) a += w1[j * d + i] * static_cast<double>(x[i]);
    switch (act) {
      case Activation::kSwiGLU: {
        double b = 0.0;
        for (int64_t i = 0; i < d; ++i) b += w3[j * d + i] * static_cast<double>(x[i]);
        h[static_cast<size_t>(j)] = Silu(a) * b;
        break;
      }
      case Activation::kGeluTanh: h[static_cast<size_t>(j)] = GeluTanh(a); break;
      case Activation::kGeluErf: h[static_cast<size_t>(j)] = GeluErf(a); break;
      case Activation::kReLU: h[static_cast<size_t>(j)] = Relu(a); break;
    }
  }
  std::vector<double> y(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) {
    double acc = 0.0;
    for (int64_t j = 0; j < f; ++j) acc += w2[i * f + j] * h[static_cast<size_t>(j)];
    y[static_cast<size_t>(i)] = acc;
  }
  return y;
}

std::vector<double> ExpertsForward(Activation act, int64_t N, int64_t d, int64_t f,
                                   const std::vector<double>& w1, const std::vector<double>& w3,
                                   const std::vector<double>& w2, int64_t S, int64_t fs,
                                   const std::vector<double>& sw1,
                                   const std::vector<double>& sw3,
                                   const std::vector<double>& sw2, const float* x, int64_t T,
                                   const int64_t* expert_offsets, const int64_t* token_ids,
                                   const float* weights) {
  const bool swiglu = act == Activation::kSwiGLU;
  std::vector<double> y(static_cast<size_t>(T * d), 0.0);
  for (int64_t e = 0; e < N; ++e) {
    for (int64_t i = expert_offsets[e]; i < expert_offsets[e + 1]; ++i) {
      const int64_t t = token_ids[i];
      const std::vector<double> out =
          Ffn(act, &w1[static_cast<size_t>(e * f * d)],
              swiglu ? &w3[static_cast<size_t>(e * f * d)] : nullptr,
              &w2[static_cast<size_t>(e * d * f)], d, f, x + t * d);
      for (int64_t j = 0; j < d; ++j)
        y[static_cast<size_t>(t * d + j)] += static_cast<double>(weights[i]) * out[static_cast<size_t>(j)];
    }
  }
  for (int64_t s = 0; s < S; ++s)
    for (int64_t t = 0; t < T; ++t) {
      const std::vector<double> out =
          Ffn(act, &sw1[static_cast<size_t>(s * fs * d)],
              swiglu ? &sw3[static_cast<size_t>(s * fs * d)] : nullptr,
              &sw2[static_cast<size_t>(s * d * fs)], d, fs, x + t * d);
      for (int64_t j = 0; j < d; ++j) y[static_cast<size_t>(t * d + j)] += out[static_cast<size_t>(j)];
    }
  return y;
}

}  // namespace oracle
