// usmoe-bench: command-line parsing. Presets are applied first, then every
// explicit flag overrides them, whatever the order on the command line.
#include "options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace usmoe_bench {
namespace {

struct Preset {
  const char* name;
  int64_t dim, experts, tokens;
  double k;
  int64_t hidden, shared, shared_hidden;  // the MoE layer (moe stage)
  const char* what;
};

// Expert sizes from the models' configs (moe_intermediate_size, shared
// experts; Qwen1.5-MoE's one 5632-wide shared expert is 4 x 1408).
constexpr Preset kPresets[] = {
    {"olmoe", 2048, 64, 4096, 8.0, 1024, 0, 0, "OLMoE-1B-7B (default)"},
    {"mixtral", 4096, 8, 4096, 2.0, 14336, 0, 0, "Mixtral 8x7B (moe: 5.6 GB f32)"},
    {"qwen15", 2048, 60, 4096, 4.0, 1408, 1, 5632, "Qwen1.5-MoE-A2.7B"},
    {"deepseek-v2-lite", 2048, 64, 4096, 6.0, 1408, 2, 1408, "DeepSeek-V2-Lite"},
    {"edge", 512, 8, 64, 2.0, 1024, 0, 0, "small edge model, short prompt"},
};

const Preset* FindPreset(const std::string& name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return &p;
  return nullptr;
}

bool ParseInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ParseDouble(const std::string& s, double lo, double hi, double* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

int Bad(const char* argv0, const std::string& msg) {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", argv0, msg.c_str(), argv0);
  return 2;
}

}  // namespace

const char* PolicyName(usmoe_policy p) {
  switch (p) {
    case USMOE_POLICY_TOKEN_CHOICE: return "tc";
    case USMOE_POLICY_EXPERT_CHOICE: return "ec";
    case USMOE_POLICY_UNIFIED: return "unified";
    default: return "?";
  }
}

const char* DtypeName(usmoe_dtype dtype) {
  return dtype == USMOE_DTYPE_BF16 ? "bf16" : "f32";
}

void PrintHelp(const char* argv0) {
  std::printf(
      "Usage: %s [flags]\n"
      "\n"
      "Routing throughput of usmoe (C API) against baselines measured in the\n"
      "same run. With no flags: the 'olmoe' preset (T=4096, N=64, d=2048,\n"
      "k=8, f32), policies tc, ec and unified, the route stages.\n"
      "\n"
      "Stages (rows of the table):\n"
      "  logits  L = X W^T via usmoe_logits;      baseline: oneDNN matmul (W in\n"
      "          its plain N x d layout, as usmoe_logits receives it)\n"
      "  scores  usmoe_scores (alpha of the policy, sigmoid expert score);\n"
      "          baseline: scalar C++ (std::exp), OpenMP over rows\n"
      "  select  on precomputed scores: usmoe_topk_rows (tc), usmoe_topc_cols\n"
      "          per group (ec), usmoe_topc_global per group (unified);\n"
      "          baseline: std::partial_sort per row (tc), std::nth_element per\n"
      "          column (ec), std::nth_element over the group (unified), on\n"
      "          (score, index) pairs, ties: higher score, then lower index;\n"
      "          tc/ec baselines run OpenMP over rows/columns, unified over\n"
      "          groups (OpenMP only from T*N >= 65536 cells, as for the\n"
      "          scalar scores). Outputs are compared cell for cell ('check').\n"
      "  route   usmoe_route: X -> plan (gate GEMM, scores, selection, plan);\n"
      "          baseline: oneDNN matmul (pre-packed W) + scalar scores + the\n"
      "          std selection above + a counting-sort plan.\n"
      "  moe     (--stage moe|all) the MoE layer: usmoe_route + usmoe_experts_forward\n"
      "          (SwiGLU experts of size f, S shared experts), T = 1, 32, 512 unless\n"
      "          --tokens; baseline: the route baseline + three oneDNN matmuls per\n"
      "          expert on its gathered rows + scalar SwiGLU + weighted scatter-add.\n"
      "          Throughput: active GFLOP/s (6*d*f per selected pair + shared).\n"
      "\n"
      "Peers (own columns, when /usr/bin/python3 imports torch; --no-torch: off):\n"
      "  select  torch.topk per row (tc), per column (ec), over the flattened U\n"
      "          (unified: the paper's released router), on the same scores\n"
      "  moe     a HuggingFace-style torch MoE block (gate, softmax/sigmoid mix,\n"
      "          the policy's topk, a Python loop over experts with index_add_)\n"
      "  They run in one subprocess per stage (bench/peers/torch_peers.py) after\n"
      "  usmoe's cells, same warm-up/median method, OPENBLAS_CORETYPE unset.\n"
      "  Without torch the peer column reads 'skipped (why)'.\n"
      "\n"
      "Shape and routing:\n"
      "  --preset NAME   sets d, N, k, T, f and S (explicit flags win):\n",
      argv0);
  for (const Preset& p : kPresets)
    std::printf("                    %-17s d=%-5lld N=%-3lld k=%-3g T=%-5lld f=%-5lld S=%lld  %s\n",
                p.name, (long long)p.dim, (long long)p.experts, p.k,
                (long long)p.tokens, (long long)p.hidden, (long long)p.shared, p.what);
  std::printf(
      "  --stage S       route: every routing row (logits, scores, select, route;\n"
      "                  the default) | plan: only X -> plan (route rows) |\n"
      "                  select: only scores -> plan (select rows) | moe: the\n"
      "                  MoE layer | all: route + moe\n"
      "  --tokens T[,T]  tokens per call (>= 1); a list runs every stage per T\n"
      "  --hidden f      moe: intermediate size of a routed expert\n"
      "  --shared S      moe: shared experts (dense, every token; default per preset)\n"
      "  --shared-hidden f  moe: their intermediate size (default: --hidden)\n"
      "  --backend B     moe: the experts' GEMM backend, auto | highway | onednn\n"
      "                  (usmoe_experts_config.backend; default auto)\n"
      "  --experts N     experts (>= 1)\n"
      "  --dim d         model dimension (>= 1)\n"
      "  --k K           experts per token (tc: integer in [1,N]; ec: capacity\n"
      "                  C = ceil(k*T_g/N) per group; unified: budget\n"
      "                  c = floor(k*T_g + 0.5) per group, fractional allowed)\n"
      "  --alpha A       unified-score mix in [0,1] for every policy; default\n"
      "                  per policy: 0.5 for unified, 0 (softmax) for tc and ec\n"
      "  --policy P      tc | ec | unified | all (default all)\n"
      "  --groups G      G routing groups of equal size (the first T%%G groups get\n"
      "                  one token more); selection never crosses a group\n"
      "  --dtype D       f32 | bf16 (X and W rounded to bf16, nearest-even;\n"
      "                  logits accumulate in f32; oneDNN runs bf16 too)\n"
      "\n"
      "Inputs (seeded, reproducible):\n"
      "  --seed S        generator seed (default 1)\n"
      "  --iid           plain Gaussian W instead of the skewed default\n"
      "  Distribution: X[t,:] ~ N(0, I_d)/sqrt(d) (so |x_t| ~ 1);\n"
      "    default (skewed popularity): W[e,:] = s_e * g_e with g_e ~ N(0, I_d),\n"
      "    s_e = max(0.1, 1 + 0.5 z_e), z_e ~ N(0,1) per expert, so logits\n"
      "    L[t,e] ~ N(0, s_e^2) and large-s_e experts win far more often;\n"
      "    --iid: W[e,:] = g_e (all experts alike). Generator: splitmix64 +\n"
      "    Box-Muller, identical on every platform.\n"
      "\n"
      "Method and output:\n"
      "  --threads n     usmoe_set_num_threads(n) and omp_set_num_threads(n)\n"
      "                  (default: OpenMP's default, OMP_NUM_THREADS)\n"
      "  --min-time s    each cell: one warm-up run, then runs until they took\n"
      "                  at least s seconds (default 0.3) AND --min-runs runs; a\n"
      "                  slower cell stops after 3 runs once it took 10*s. usmoe\n"
      "                  and its baseline run interleaved (the next run goes to\n"
      "                  the one with less time so far), so both see the same\n"
      "                  machine conditions\n"
      "  --min-runs n    (default 10)\n"
      "  --json FILE     Google Benchmark JSON (real_time = median, ns) for\n"
      "                  compare.py; one entry per measured cell, ours named\n"
      "                  usmoe/<stage>/<policy>/..., baselines baseline/...\n"
      "  --csv FILE      the table as CSV (times in ns)\n"
      "  --plot DIR      also write DIR/usmoe-bench.json and DIR/assignment.json\n"
      "                  (one group of <= 64 tokens routed by tc and unified) and\n"
      "                  draw DIR/throughput.{png,svg} (throughput vs T per stage,\n"
      "                  usmoe vs baseline vs torch) and DIR/assignment.{png,svg}\n"
      "                  (token x expert maps with per-expert loads and per-token\n"
      "                  counts); needs python3-matplotlib\n"
      "  --no-torch      skip the PyTorch peers\n"
      "  --help          this text\n"
      "\n"
      "Columns: median/min/max over the runs of one cell; throughput of the\n"
      "median (tokens/s for route, G cells/s = T*N/time for scores and select,\n"
      "GFLOP/s = 2*T*N*d/time for logits, active GFLOP/s for moe); 'base' =\n"
      "the baseline's median; ratio = base/ours (> 1: usmoe is faster); the\n"
      "peer columns the same for PyTorch; check: agreement with usmoe's output.\n");
}

int ParseOptions(int argc, char** argv, Options* o) {
  const char* argv0 = argc > 0 ? argv[0] : "usmoe-bench";
  // Split "--flag=value" and "--flag value" into (flag, value) pairs.
  struct Arg {
    std::string flag, value;
    bool has_value;
  };
  std::vector<Arg> args;
  static const char* kNoValue[] = {"--help", "-h", "--iid", "--no-torch"};
  static const char* kWithValue[] = {
      "--preset", "--tokens", "--experts", "--dim", "--k", "--alpha",
      "--policy", "--dtype", "--threads", "--groups", "--seed", "--min-time",
      "--min-runs", "--json", "--csv", "--stage", "--hidden", "--shared",
      "--shared-hidden", "--plot", "--backend"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-", 0) != 0) return Bad(argv0, "unexpected argument '" + a + "'");
    Arg arg{a, "", false};
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      arg.flag = a.substr(0, eq);
      arg.value = a.substr(eq + 1);
      arg.has_value = true;
    }
    bool known = false;
    for (const char* f : kNoValue) known |= (arg.flag == f);
    for (const char* f : kWithValue) known |= (arg.flag == f);
    if (!known) return Bad(argv0, "unknown flag '" + arg.flag + "'");
    if (eq == std::string::npos) {
      bool novalue = false;
      for (const char* f : kNoValue) novalue |= (a == f);
      if (!novalue) {
        if (i + 1 >= argc) return Bad(argv0, "flag " + a + " needs a value");
        arg.value = argv[++i];
        arg.has_value = true;
      }
    }
    args.push_back(arg);
  }
  for (const Arg& a : args) {
    if (a.flag == "--help" || a.flag == "-h") {
      PrintHelp(argv0);
      return 1;
    }
  }
  // Pass 1: the preset.
  for (const Arg& a : args) {
    if (a.flag != "--preset") continue;
    const Preset* p = FindPreset(a.value);
    if (!p) return Bad(argv0, "unknown preset '" + a.value + "'");
    o->preset = p->name;
    o->dim = p->dim;
    o->experts = p->experts;
    o->tokens = p->tokens;
    o->k = p->k;
    o->hidden = p->hidden;
    o->shared = p->shared;
    o->shared_hidden = p->shared_hidden;
  }
  // Pass 2: everything else.
  bool shape_changed = false;
  for (const Arg& a : args) {
    const std::string& f = a.flag;
    const std::string& v = a.value;
    int64_t i64 = 0;
    double dbl = 0;
    if (f == "--preset") {
      continue;
    } else if (f == "--iid") {
      if (a.has_value) return Bad(argv0, "--iid takes no value");
      o->iid = true;
    } else if (f == "--no-torch") {
      if (a.has_value) return Bad(argv0, "--no-torch takes no value");
      o->torch = false;
    } else if (f == "--tokens") {
      // One value or a comma-separated list.
      o->tokens_list.clear();
      size_t start = 0;
      while (true) {
        const size_t comma = v.find(',', start);
        const std::string item = v.substr(start, comma == std::string::npos ? comma : comma - start);
        if (!ParseInt(item, 1, int64_t(1) << 30, &i64))
          return Bad(argv0, "--tokens: expected integers >= 1 separated by commas, got '" + v + "'");
        o->tokens_list.push_back(i64);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      o->tokens = o->tokens_list.front();
      shape_changed = true;
    } else if (f == "--stage") {
      if (v != "route" && v != "plan" && v != "select" && v != "moe" && v != "all")
        return Bad(argv0,
                   "--stage: expected route, plan, select, moe or all, got '" + v + "'");
      o->stage = v;
    } else if (f == "--hidden") {
      if (!ParseInt(v, 1, 1 << 20, &o->hidden))
        return Bad(argv0, "--hidden: expected an integer >= 1, got '" + v + "'");
      shape_changed = true;
    } else if (f == "--shared") {
      if (!ParseInt(v, 0, 64, &o->shared))
        return Bad(argv0, "--shared: expected an integer in [0, 64], got '" + v + "'");
      shape_changed = true;
    } else if (f == "--shared-hidden") {
      if (!ParseInt(v, 1, 1 << 20, &o->shared_hidden))
        return Bad(argv0, "--shared-hidden: expected an integer >= 1, got '" + v + "'");
      shape_changed = true;
    } else if (f == "--backend") {
      if (v == "auto") o->backend = USMOE_BACKEND_AUTO;
      else if (v == "highway") o->backend = USMOE_BACKEND_HIGHWAY;
      else if (v == "onednn") o->backend = USMOE_BACKEND_ONEDNN;
      else return Bad(argv0, "--backend: expected auto, highway or onednn, got '" + v + "'");
    } else if (f == "--plot") {
      if (v.empty()) return Bad(argv0, "--plot needs a directory");
      o->plot_dir = v;
    } else if (f == "--experts") {
      if (!ParseInt(v, 1, 1 << 20, &o->experts))
        return Bad(argv0, "--experts: expected an integer >= 1, got '" + v + "'");
      shape_changed = true;
    } else if (f == "--dim") {
      if (!ParseInt(v, 1, 1 << 24, &o->dim))
        return Bad(argv0, "--dim: expected an integer >= 1, got '" + v + "'");
      shape_changed = true;
    } else if (f == "--k") {
      if (!ParseDouble(v, 0.0, 1e9, &o->k) || o->k <= 0)
        return Bad(argv0, "--k: expected a number > 0, got '" + v + "'");
      shape_changed = true;
    } else if (f == "--alpha") {
      if (!ParseDouble(v, 0.0, 1.0, &o->alpha))
        return Bad(argv0, "--alpha: expected a number in [0, 1], got '" + v + "'");
      o->alpha_set = true;
    } else if (f == "--policy") {
      if (v == "tc" || v == "token_choice") o->policies = {USMOE_POLICY_TOKEN_CHOICE};
      else if (v == "ec" || v == "expert_choice") o->policies = {USMOE_POLICY_EXPERT_CHOICE};
      else if (v == "unified") o->policies = {USMOE_POLICY_UNIFIED};
      else if (v == "all")
        o->policies = {USMOE_POLICY_TOKEN_CHOICE, USMOE_POLICY_EXPERT_CHOICE,
                       USMOE_POLICY_UNIFIED};
      else return Bad(argv0, "--policy: expected tc, ec, unified or all, got '" + v + "'");
    } else if (f == "--dtype") {
      if (v == "f32") o->dtype = USMOE_DTYPE_F32;
      else if (v == "bf16") o->dtype = USMOE_DTYPE_BF16;
      else return Bad(argv0, "--dtype: expected f32 or bf16, got '" + v + "'");
    } else if (f == "--threads") {
      if (!ParseInt(v, 1, 4096, &i64))
        return Bad(argv0, "--threads: expected an integer in [1, 4096], got '" + v + "'");
      o->threads = static_cast<int32_t>(i64);
    } else if (f == "--groups") {
      if (!ParseInt(v, 1, int64_t(1) << 30, &o->groups))
        return Bad(argv0, "--groups: expected an integer >= 1, got '" + v + "'");
    } else if (f == "--seed") {
      if (!ParseInt(v, 0, INT64_MAX, &i64))
        return Bad(argv0, "--seed: expected an integer >= 0, got '" + v + "'");
      o->seed = static_cast<uint64_t>(i64);
    } else if (f == "--min-time") {
      if (!ParseDouble(v, 0.0, 3600.0, &dbl))
        return Bad(argv0, "--min-time: expected seconds in [0, 3600], got '" + v + "'");
      o->min_time = dbl;
    } else if (f == "--min-runs") {
      if (!ParseInt(v, 1, 1000000, &o->min_runs))
        return Bad(argv0, "--min-runs: expected an integer >= 1, got '" + v + "'");
    } else if (f == "--json") {
      if (v.empty()) return Bad(argv0, "--json needs a file name");
      o->json_path = v;
    } else if (f == "--csv") {
      if (v.empty()) return Bad(argv0, "--csv needs a file name");
      o->csv_path = v;
    } else {
      return Bad(argv0, "unknown flag '" + f + "'");
    }
  }
  if (shape_changed) {
    bool is_preset = false;
    if (const Preset* p = FindPreset(o->preset))
      is_preset = p->dim == o->dim && p->experts == o->experts &&
                  p->tokens == o->tokens && p->k == o->k && p->hidden == o->hidden &&
                  p->shared == o->shared && p->shared_hidden == o->shared_hidden &&
                  o->tokens_list.size() <= 1;
    if (!is_preset) o->preset += " (modified)";
  }
  if (o->k > static_cast<double>(o->experts))
    return Bad(argv0, "--k must be <= the number of experts (" +
                          std::to_string(o->experts) + ")");
  if (o->shared > 0 && o->shared_hidden == 0) o->shared_hidden = o->hidden;
  // The moe stage routes each call as one group.
  if (o->stage != "moe")
    for (int64_t t : o->TokensFor("route"))
      if (o->groups > t) return Bad(argv0, "--groups must be <= every --tokens value");
  return 0;
}

std::vector<int64_t> Options::TokensFor(const std::string& stage_name) const {
  if (!tokens_list.empty()) return tokens_list;
  if (stage_name == "moe") return {1, 32, 512};
  return {tokens};
}

}  // namespace usmoe_bench
