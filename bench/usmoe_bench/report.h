// usmoe-bench: the run's header, the aligned table, JSON and CSV output.
#ifndef USMOE_BENCH_REPORT_H_
#define USMOE_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "options.h"
#include "probe.h"
#include "timing.h"

namespace usmoe_bench {

enum class Unit { kTokens, kCells, kFlops };

struct Row {
  std::string stage;   // logits | scores | select | route | moe
  std::string policy;  // tc | ec | unified | "-"
  int64_t T = 0, N = 0, d = 0, G = 1;
  double k = 0;
  int64_t f = 0, S = 0, fs = 0;  // moe: expert size, shared experts, their size
  double bytes = 0;         // moe: weight bytes a call must read (DRAM floor)
  bool bf16 = false;        // moe: bf16 weights (limit: the bf16 dot peak)
  Unit unit = Unit::kCells;
  double work = 0;          // per call, in units of `unit`
  Stats ours;               // !ours.ok: ours.error says why
  std::string base_name;    // what the baseline is
  Stats base;               // !base.ok: base.error ("skipped (...)")
  std::string check;        // agreement of ours with the baseline
  // A second peer (PyTorch), run in a subprocess; empty name: none.
  std::string peer_name;
  Stats peer;               // !peer.ok: peer.error ("skipped (...)")
  std::string peer_check;
};

// key/value lines printed before the table and stored in the JSON context.
using Context = std::vector<std::pair<std::string, std::string>>;

void PrintHeader(const Context& ctx);

// The probed limits the `limit` column and the JSON's share_of_limit use
// (none set: the column shows "-").
void SetLimits(const Limits& limits);

// This row's rate as a share of the physical limit that bounds it: the FMA
// peak for the GEMM stages (logits; route, by its gate GEMM's FLOPs), the
// DRAM read bandwidth for scores (8 bytes per cell: L in, U out) and select
// (4 bytes per cell); for moe the larger of its FLOP share and its share of
// DRAM bandwidth for the weight bytes it must read (small T streams
// weights). Above 1: the data came from cache. -1: unknown.
double ShareOfLimit(const Row& r, const Stats& s, const char** which);
void PrintTable(const std::vector<Row>& rows);
std::string WriteJson(const std::string& path, const Context& ctx,
                      const std::vector<Row>& rows);  // "" or an error
std::string WriteCsv(const std::string& path, const Options& opts,
                     const std::vector<Row>& rows);

std::string CpuModel();  // /proc/cpuinfo "model name", or "unknown"

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_REPORT_H_
