// usmoe-bench: the PyTorch peers (see torch_peer.h).
#include "torch_peer.h"

#include <omp.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#ifndef USMOE_BENCH_SOURCE_DIR
#define USMOE_BENCH_SOURCE_DIR "."
#endif

namespace usmoe_bench {
namespace {

// The script: $USMOE_TORCH_PEERS, else the source tree's copy.
std::string ScriptPath() {
  const char* env = std::getenv("USMOE_TORCH_PEERS");
  if (env && *env) return env;
  return std::string(USMOE_BENCH_SOURCE_DIR) + "/bench/peers/torch_peers.py";
}

}  // namespace

template <class T>
bool ReadFile(const std::string& path, std::vector<T>* out, size_t count) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->resize(count);
  f.read(reinterpret_cast<char*>(out->data()), std::streamsize(count * sizeof(T)));
  if (!f || f.gcount() != std::streamsize(count * sizeof(T))) return false;
  char extra;
  return !f.read(&extra, 1);
}
template bool ReadFile<float>(const std::string&, std::vector<float>*, size_t);
template bool ReadFile<int64_t>(const std::string&, std::vector<int64_t>*, size_t);

TorchPeers::TorchPeers(const Options& o)
    : enabled_(o.torch), threads_(o.threads > 0 ? o.threads : omp_get_max_threads()),
      min_time_(o.min_time), min_runs_(o.min_runs) {}

TorchPeers::~TorchPeers() {
  if (dir_.empty()) return;
  for (const Job& j : jobs_) std::remove(j.out.c_str());
  // Input files and the job lists: every regular file in our own directory.
  const std::string cmd = "rm -rf -- '" + dir_ + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
}

std::string TorchPeers::Dir() {
  if (dir_.empty() && dir_error_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/usmoe-bench-torch-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data())) dir_ = buf.data();
    else dir_error_ = "cannot create a temporary directory in " + templ;
  }
  return dir_;
}

std::string TorchPeers::WriteFloats(const std::string& name, const float* v, int64_t n) {
  if (!enabled_ || Dir().empty()) return "";
  const std::string path = dir_ + "/" + name;
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v), std::streamsize(n * sizeof(float)));
  return f ? path : "";
}

void TorchPeers::Add(size_t row, const std::string& name, const std::string& spec,
                     std::function<std::string(const std::string&)> check) {
  if (!enabled_) {
    skipped_.push_back({row, name});
    return;
  }
  Job j{row, name, spec, "", std::move(check)};
  if (!Dir().empty()) j.out = dir_ + "/out" + std::to_string(jobs_.size()) + ".bin";
  jobs_.push_back(std::move(j));
}

void TorchPeers::RunAll(std::vector<Row>* rows) {
  for (const auto& s : skipped_) {
    (*rows)[s.first].peer_name = s.second;
    (*rows)[s.first].peer.error = "skipped (--no-torch)";
  }
  skipped_.clear();
  if (jobs_.empty()) return;
  auto fail_all = [&](const std::string& why) {
    for (const Job& j : jobs_) {
      (*rows)[j.row].peer_name = j.name;
      (*rows)[j.row].peer.error = why;
    }
    jobs_.clear();
  };
  if (dir_.empty()) return fail_all("skipped (" + dir_error_ + ")");
  if (access("/usr/bin/python3", X_OK) != 0) return fail_all("skipped (no /usr/bin/python3)");
  const std::string script = ScriptPath();
  if (access(script.c_str(), R_OK) != 0) return fail_all("skipped (no " + script + ")");
  const std::string jobs_path = dir_ + "/jobs.txt", results_path = dir_ + "/results.txt";
  {
    std::ofstream f(jobs_path);
    for (size_t i = 0; i < jobs_.size(); ++i)
      f << "id=" << i << " " << jobs_[i].spec << " out=" << jobs_[i].out << "\n";
    if (!f) return fail_all("skipped (cannot write " + jobs_path + ")");
  }
  // OPENBLAS_CORETYPE unset: this machine pins OpenBLAS to Haswell kernels,
  // which would not be a fair peer on Zen 5.
  std::ostringstream cmd;
  cmd << "env -u OPENBLAS_CORETYPE OMP_NUM_THREADS=" << threads_ << " /usr/bin/python3 '"
      << script << "' '" << jobs_path << "' '" << results_path << "' --threads=" << threads_
      << " --min-time=" << min_time_ << " --min-runs=" << min_runs_ << " >&2";
  const int rc = std::system(cmd.str().c_str());
  std::ifstream res(results_path);
  if (!res) {
    return fail_all("failed (torch_peers.py exit " +
                    std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1) + ", no results)");
  }
  std::vector<bool> done(jobs_.size(), false);
  std::string line;
  while (std::getline(res, line)) {
    std::istringstream in(line);
    size_t id;
    std::string status;
    if (!(in >> id >> status) || id >= jobs_.size()) continue;
    Job& j = jobs_[id];
    Row& r = (*rows)[j.row];
    r.peer_name = j.name;
    done[id] = true;
    if (status == "ok") {
      double med, lo, hi;
      int64_t runs;
      in >> med >> lo >> hi >> runs;
      std::string label;
      std::getline(in, label);
      if (!label.empty() && label[0] == ' ') label.erase(0, 1);
      r.peer.ok = true;
      r.peer.median_ns = med;
      r.peer.min_ns = lo;
      r.peer.max_ns = hi;
      r.peer.cpu_median_ns = med;
      r.peer.runs = runs;
      if (!label.empty()) label_ = label;
      r.peer_check = j.check ? j.check(j.out) : "";
    } else {
      std::string msg;
      std::getline(in, msg);
      if (!msg.empty() && msg[0] == ' ') msg.erase(0, 1);
      r.peer.error = msg.empty() ? "failed" : msg;
    }
  }
  for (size_t i = 0; i < jobs_.size(); ++i)
    if (!done[i]) {
      (*rows)[jobs_[i].row].peer_name = jobs_[i].name;
      (*rows)[jobs_[i].row].peer.error = "failed (no result from torch_peers.py)";
    }
  jobs_.clear();
}

}  // namespace usmoe_bench
