// usmoe-bench: the PyTorch peers, run as one subprocess per stage
// (bench/peers/torch_peers.py with Debian's /usr/bin/python3) after usmoe's
// own cells, on inputs written to a private temporary directory.
#ifndef USMOE_BENCH_TORCH_PEER_H_
#define USMOE_BENCH_TORCH_PEER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "options.h"
#include "report.h"

namespace usmoe_bench {

class TorchPeers {
 public:
  explicit TorchPeers(const Options& o);
  ~TorchPeers();  // removes the temporary directory

  // False with --no-torch; then Add() marks rows "skipped (--no-torch)".
  bool enabled() const { return enabled_; }

  // Writes n floats to a new file in the directory; "" on failure.
  std::string WriteFloats(const std::string& name, const float* v, int64_t n);

  // A job for rows[row]: `spec` is its "key=value ..." line (kind, policy,
  // sizes, input files); `check` compares usmoe's result with the file the
  // peer wrote (its `out`) and returns the peer_check text.
  void Add(size_t row, const std::string& name, const std::string& spec,
           std::function<std::string(const std::string& out_path)> check);

  // Runs the queued jobs, fills rows[*].peer / peer_name / peer_check.
  void RunAll(std::vector<Row>* rows);

  // What ran, as the peer reported it ("torch 1.13.0a0 (OpenBLAS, 2 thr)");
  // "" before a successful job.
  const std::string& label() const { return label_; }

 private:
  struct Job {
    size_t row;
    std::string name, spec, out;
    std::function<std::string(const std::string&)> check;
  };
  std::string Dir();
  bool enabled_;
  std::string dir_, dir_error_, label_;
  int32_t threads_;
  double min_time_;
  int64_t min_runs_;
  std::vector<Job> jobs_;
  std::vector<std::pair<size_t, std::string>> skipped_;
};

// Reads a whole binary file of T values; false if its size differs.
template <class T>
bool ReadFile(const std::string& path, std::vector<T>* out, size_t count);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_TORCH_PEER_H_
