// usmoe-bench: output. The table is plain ASCII so columns stay aligned in
// any terminal; JSON follows Google Benchmark's schema so compare.py reads it.
#include "report.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

namespace usmoe_bench {
namespace {

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string FormatTime(double ns) {
  if (ns < 1e3) return Fmt("%.0f ns", ns);
  if (ns < 1e4) return Fmt("%.2f us", ns / 1e3);
  if (ns < 1e6) return Fmt("%.1f us", ns / 1e3);
  if (ns < 1e7) return Fmt("%.3f ms", ns / 1e6);
  if (ns < 1e9) return Fmt("%.2f ms", ns / 1e6);
  return Fmt("%.3f s", ns / 1e9);
}

std::string FormatK(double k) {
  return Fmt(k == std::floor(k) ? "%.0f" : "%g", k);
}

// A cell whose median is well above its best run was disturbed.
bool Noisy(const Stats& s) { return s.median_ns > 1.25 * s.min_ns; }

double Rate(const Row& r, const Stats& s) {  // work units per second
  return s.median_ns > 0 ? r.work / (s.median_ns * 1e-9) : 0.0;
}

std::string FormatThroughput(const Row& r, const Stats& s) {
  double v = Rate(r, s);
  switch (r.unit) {
    case Unit::kTokens:
      if (v >= 1e6) return Fmt("%.3f Mtok/s", v / 1e6);
      return Fmt("%.1f Ktok/s", v / 1e3);
    case Unit::kCells:
      return Fmt("%.3f Gcell/s", v / 1e9);
    case Unit::kFlops:
      return Fmt("%.1f GFLOP/s", v / 1e9);
  }
  return "";
}

const char* UnitName(Unit u) {
  switch (u) {
    case Unit::kTokens: return "tokens_per_second";
    case Unit::kCells: return "cells_per_second";
    case Unit::kFlops: return "flops_per_second";
  }
  return "items_per_second";
}

Limits g_limits;
bool g_have_limits = false;

std::string BenchName(const char* who, const Row& r) {
  std::string n = std::string(who) + "/" + r.stage;
  if (r.policy != "-") n += "/" + r.policy;
  n += "/T:" + std::to_string(r.T) + "/N:" + std::to_string(r.N) +
       "/d:" + std::to_string(r.d) + "/k:" + FormatK(r.k) +
       "/G:" + std::to_string(r.G);
  if (r.stage == "moe") n += "/f:" + std::to_string(r.f) + "/S:" + std::to_string(r.S);
  return n;
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

std::string JsonNum(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

}  // namespace

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t b = line.find_first_not_of(" \t", colon + 1);
        return b == std::string::npos ? "unknown" : line.substr(b);
      }
    }
  }
  return "unknown";
}

void PrintHeader(const Context& ctx) {
  size_t w = 0;
  for (const auto& kv : ctx) w = std::max(w, kv.first.size());
  for (const auto& kv : ctx)
    std::printf("%-*s : %s\n", int(w), kv.first.c_str(), kv.second.c_str());
  std::printf("\n");
}

void SetLimits(const Limits& limits) {
  g_limits = limits;
  g_have_limits = true;
}

double ShareOfLimit(const Row& r, const Stats& s, const char** which) {
  *which = "";
  if (!g_have_limits || !s.ok || s.median_ns <= 0) return -1;
  const double sec = s.median_ns * 1e-9;
  const double cells = static_cast<double>(r.T) * static_cast<double>(r.N);
  if (r.stage == "moe") {
    // bf16 weights: against the bf16 dot-product peak where there is one.
    const bool bf16 = r.bf16 && g_limits.bf16_gflops > 0;
    const double peak = bf16 ? g_limits.bf16_gflops : g_limits.fma_gflops;
    const double fma = r.work / sec / (peak * 1e9);
    const double dram = r.bytes / sec / (g_limits.dram_gbps * 1e9);
    *which = dram > fma ? "DRAM" : (bf16 ? "BF16" : "FMA");
    return std::max(fma, dram);
  }
  if (r.stage == "logits" || r.stage == "route") {
    *which = "FMA";
    const double flops = 2.0 * cells * static_cast<double>(r.d);
    return flops / sec / (g_limits.fma_gflops * 1e9);
  }
  *which = "DRAM";
  const double bytes = (r.stage == "scores" ? 8.0 : 4.0) * cells;
  return bytes / sec / (g_limits.dram_gbps * 1e9);
}

void PrintTable(const std::vector<Row>& rows) {
  bool peers = false;
  for (const Row& r : rows) peers |= !r.peer_name.empty();
  std::vector<std::string> head = {"stage", "policy", "T", "N", "d", "k",
                                   "median", "min", "max", "throughput", "limit",
                                   "baseline", "base median", "ratio", "check"};
  // Columns that are numbers are right-aligned.
  std::vector<bool> right = {false, false, true, true, true, true, true,
                             true, true, true, true, false, true, true, false};
  if (peers) {
    head.insert(head.end(), {"peer", "peer median", "ratio", "peer check"});
    right.insert(right.end(), {false, true, true, false});
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> notes;
  for (const Row& r : rows) {
    std::vector<std::string> c = {r.stage, r.policy, std::to_string(r.T),
                                  std::to_string(r.N), std::to_string(r.d),
                                  FormatK(r.k)};
    if (r.ours.ok) {
      c.push_back(FormatTime(r.ours.median_ns) + (Noisy(r.ours) ? "*" : " "));
      c.push_back(FormatTime(r.ours.min_ns));
      c.push_back(FormatTime(r.ours.max_ns));
      c.push_back(FormatThroughput(r, r.ours));
      const char* which = "";
      const double share = ShareOfLimit(r, r.ours, &which);
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.0f%% %s", 100.0 * share, which);
      c.push_back(share < 0 ? "-" : buf);
    } else if (r.ours.error.rfind("skipped", 0) == 0) {
      c.insert(c.end(), {"skipped ", "-", "-", "-", "-"});
    } else {
      c.insert(c.end(), {"failed ", "-", "-", "-", "-"});
      notes.push_back(r.stage + "/" + r.policy + ": " + r.ours.error);
    }
    c.push_back(r.base_name);
    if (r.base.ok) {
      c.push_back(FormatTime(r.base.median_ns) + (Noisy(r.base) ? "*" : " "));
      c.push_back(r.ours.ok ? Fmt("%.2fx", r.base.median_ns / r.ours.median_ns) : "-");
    } else {
      c.push_back(r.base.error);
      c.push_back("-");
    }
    c.push_back(r.check.empty() ? "-" : r.check);
    if (peers) {
      c.push_back(r.peer_name.empty() ? "-" : r.peer_name);
      if (r.peer.ok) {
        c.push_back(FormatTime(r.peer.median_ns) + (Noisy(r.peer) ? "*" : " "));
        c.push_back(r.ours.ok ? Fmt("%.2fx", r.peer.median_ns / r.ours.median_ns) : "-");
      } else {
        c.push_back(r.peer_name.empty() ? "-" : r.peer.error);
        c.push_back("-");
      }
      c.push_back(r.peer_check.empty() ? "-" : r.peer_check);
    }
    cells.push_back(c);
  }
  std::vector<size_t> w(head.size());
  for (size_t j = 0; j < head.size(); ++j) {
    w[j] = head[j].size();
    for (const auto& c : cells) w[j] = std::max(w[j], c[j].size());
  }
  auto print_line = [&](const std::vector<std::string>& c) {
    std::string line;
    for (size_t j = 0; j < c.size(); ++j) {
      std::string pad(w[j] - c[j].size(), ' ');
      line += right[j] ? pad + c[j] : c[j] + pad;
      if (j + 1 < c.size()) line += (j == 10 || j == 14) ? " | " : "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  };
  print_line(head);
  std::string rule;
  for (size_t j = 0; j < w.size(); ++j) {
    rule += std::string(w[j], '-');
    if (j + 1 < w.size()) rule += (j == 10 || j == 14) ? "-+-" : "  ";
  }
  std::printf("%s\n", rule.c_str());
  for (const auto& c : cells) print_line(c);
  for (const std::string& n : notes) std::printf("error: %s\n", n.c_str());
  bool noisy = false;
  for (const Row& r : rows)
    noisy |= (r.ours.ok && Noisy(r.ours)) || (r.base.ok && Noisy(r.base)) ||
             (r.peer.ok && Noisy(r.peer));
  if (noisy)
    std::printf(
        "* median > 1.25 x min: runs were disturbed (other processes, frequency);\n"
        "  compare the min columns, rerun on a quiet machine or with --threads 1\n");
}

std::string WriteJson(const std::string& path, const Context& ctx,
                      const std::vector<Row>& rows) {
  std::ostringstream o;
  char date[64] = "";
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", &tm);
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  o << "{\n  \"context\": {\n";
  o << "    \"date\": \"" << date << "\",\n";
  o << "    \"host_name\": \"" << JsonEscape(host) << "\",\n";
  o << "    \"executable\": \"usmoe-bench\",\n";
  o << "    \"num_cpus\": " << std::thread::hardware_concurrency() << ",\n";
  o << "    \"mhz_per_cpu\": 0,\n";
  o << "    \"cpu_scaling_enabled\": false,\n";
  o << "    \"caches\": [],\n";
  o << "    \"load_avg\": [" << JsonNum(load[0]) << "," << JsonNum(load[1]) << ","
    << JsonNum(load[2]) << "],\n";
#ifdef NDEBUG
  o << "    \"library_build_type\": \"release\"";
#else
  o << "    \"library_build_type\": \"debug\"";
#endif
  for (const auto& kv : ctx)
    o << ",\n    \"" << JsonEscape(kv.first) << "\": \"" << JsonEscape(kv.second) << "\"";
  o << "\n  },\n  \"benchmarks\": [";
  bool first = true;
  int family = 0;
  auto emit = [&](const Row& r, const Stats& s, const char* who) {
    if (!s.ok || r.work <= 0) return;
    const bool ours = std::string(who) == "usmoe";
    const std::string name = BenchName(who, r);
    o << (first ? "\n" : ",\n");
    first = false;
    o << "    {\n";
    o << "      \"name\": \"" << JsonEscape(name) << "\",\n";
    o << "      \"family_index\": " << family++ << ",\n";
    o << "      \"per_family_instance_index\": 0,\n";
    o << "      \"run_name\": \"" << JsonEscape(name) << "\",\n";
    o << "      \"run_type\": \"iteration\",\n";
    o << "      \"repetitions\": 1,\n";
    o << "      \"repetition_index\": 0,\n";
    o << "      \"threads\": 1,\n";
    o << "      \"iterations\": " << s.runs << ",\n";
    o << "      \"real_time\": " << JsonNum(s.median_ns) << ",\n";
    o << "      \"cpu_time\": " << JsonNum(s.cpu_median_ns) << ",\n";
    o << "      \"time_unit\": \"ns\",\n";
    o << "      \"min_real_time\": " << JsonNum(s.min_ns) << ",\n";
    o << "      \"max_real_time\": " << JsonNum(s.max_ns) << ",\n";
    o << "      \"items_per_second\": " << JsonNum(Rate(r, s)) << ",\n";
    if (ours && r.base.ok)
      o << "      \"baseline_over_ours\": " << JsonNum(r.base.median_ns / s.median_ns)
        << ",\n";
    if (ours && r.peer.ok)
      o << "      \"peer_over_ours\": " << JsonNum(r.peer.median_ns / s.median_ns) << ",\n";
    o << "      \"work\": " << JsonNum(r.work) << ",\n";
    if (r.stage == "moe")
      o << "      \"f\": " << r.f << ",\n      \"shared\": " << r.S
        << ",\n      \"shared_hidden\": " << r.fs
        << ",\n      \"weight_bytes\": " << JsonNum(r.bytes) << ",\n";
    o << "      \"" << UnitName(r.unit) << "\": " << JsonNum(Rate(r, s)) << ",\n";
    const char* which = "";
    const double share = ShareOfLimit(r, s, &which);
    if (share >= 0) o << "      \"share_of_limit\": " << JsonNum(share) << ",\n";
    const std::string label = ours ? "usmoe" : (std::string(who) == "baseline" ? r.base_name : r.peer_name);
    o << "      \"label\": \"" << JsonEscape(label) << "\",\n";
    o << "      \"check\": \"" << JsonEscape(ours ? "" : (std::string(who) == "baseline" ? r.check : r.peer_check)) << "\"\n";
    o << "    }";
  };
  for (const Row& r : rows) {
    emit(r, r.ours, "usmoe");
    emit(r, r.base, "baseline");
    emit(r, r.peer, "torch");
  }
  o << "\n  ]\n}\n";
  std::ofstream f(path);
  if (!f) return "cannot write " + path;
  f << o.str();
  return f ? "" : "error writing " + path;
}

std::string WriteCsv(const std::string& path, const Options& opts,
                     const std::vector<Row>& rows) {
  std::ofstream f(path);
  if (!f) return "cannot write " + path;
  f << "stage,policy,T,N,d,k,groups,dtype,runs,median_ns,min_ns,max_ns,"
       "throughput,throughput_unit,baseline,base_runs,base_median_ns,base_min_ns,"
       "base_max_ns,ratio,check,error,f,shared,peer,peer_median_ns,peer_ratio,peer_check\n";
  for (const Row& r : rows) {
    const char* unit = r.unit == Unit::kTokens ? "tokens/s"
                       : r.unit == Unit::kCells ? "cells/s" : "flop/s";
    f << r.stage << ',' << r.policy << ',' << r.T << ',' << r.N << ',' << r.d << ','
      << FormatK(r.k) << ',' << r.G << ',' << DtypeName(opts.dtype) << ',';
    if (r.ours.ok)
      f << r.ours.runs << ',' << JsonNum(r.ours.median_ns) << ','
        << JsonNum(r.ours.min_ns) << ',' << JsonNum(r.ours.max_ns) << ','
        << JsonNum(Rate(r, r.ours)) << ',';
    else
      f << ",,,,,";
    f << unit << ',' << CsvField(r.base_name) << ',';
    if (r.base.ok)
      f << r.base.runs << ',' << JsonNum(r.base.median_ns) << ','
        << JsonNum(r.base.min_ns) << ',' << JsonNum(r.base.max_ns) << ',';
    else
      f << ",,,,";
    if (r.ours.ok && r.base.ok) f << JsonNum(r.base.median_ns / r.ours.median_ns);
    f << ',' << CsvField(r.check) << ','
      << CsvField(!r.ours.ok ? r.ours.error : (!r.base.ok ? r.base.error : "")) << ','
      << r.f << ',' << r.S << ',' << CsvField(r.peer_name) << ',';
    if (r.peer.ok) f << JsonNum(r.peer.median_ns);
    else f << CsvField(r.peer.error);
    f << ',';
    if (r.peer.ok && r.ours.ok) f << JsonNum(r.peer.median_ns / r.ours.median_ns);
    f << ',' << CsvField(r.peer_check) << '\n';
  }
  return f ? "" : "error writing " + path;
}

}  // namespace usmoe_bench
