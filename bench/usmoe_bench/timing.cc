// usmoe-bench: timing loop. Each run is timed on its own (steady_clock), so
// the report can give median, min and max rather than a mean.
#include "timing.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace usmoe_bench {
namespace {

double CpuNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The runs of one cell.
class Cell {
 public:
  Cell(const Timed& fn, const TimingPolicy& p, Stats* out) : fn_(fn), p_(p), out_(out) {
    *out_ = Stats();
  }

  bool Active() const { return active_; }
  double Spent() const { return spent_ns_; }

  void WarmUp() {  // page faults, plan growth, JIT, thread pool start
    std::string err = fn_();
    if (!err.empty()) Fail(err);
  }

  void RunOnce() {
    double c0 = CpuNowNs();
    auto t0 = std::chrono::steady_clock::now();
    std::string err = fn_();
    auto t1 = std::chrono::steady_clock::now();
    double c1 = CpuNowNs();
    if (!err.empty()) {
      Fail(err);
      return;
    }
    double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    wall_.push_back(ns);
    cpu_.push_back(c1 - c0);
    spent_ns_ += ns;
    const int64_t n = static_cast<int64_t>(wall_.size());
    const double hard_cap_ns = std::max(1.0, 10.0 * p_.min_time_s) * 1e9;
    if ((n >= p_.min_runs && spent_ns_ >= p_.min_time_s * 1e9) ||
        (n >= 3 && spent_ns_ >= hard_cap_ns))
      Finish();
  }

 private:
  void Fail(const std::string& err) {
    active_ = false;
    out_->ok = false;
    out_->error = err;
  }
  void Finish() {
    active_ = false;
    out_->ok = true;
    out_->runs = static_cast<int64_t>(wall_.size());
    out_->min_ns = *std::min_element(wall_.begin(), wall_.end());
    out_->max_ns = *std::max_element(wall_.begin(), wall_.end());
    out_->median_ns = Median(wall_);
    out_->cpu_median_ns = Median(cpu_);
  }

  const Timed& fn_;
  const TimingPolicy& p_;
  Stats* out_;
  bool active_ = true;
  double spent_ns_ = 0;
  std::vector<double> wall_, cpu_;
};

}  // namespace

Stats Measure(const Timed& fn, const TimingPolicy& policy) {
  Stats s;
  Cell c(fn, policy, &s);
  c.WarmUp();
  while (c.Active()) c.RunOnce();
  return s;
}

void MeasurePair(const Timed& a, const Timed& b, const TimingPolicy& policy,
                 Stats* sa, Stats* sb) {
  Cell ca(a, policy, sa), cb(b, policy, sb);
  ca.WarmUp();
  cb.WarmUp();
  while (ca.Active() || cb.Active()) {
    if (ca.Active() && (!cb.Active() || ca.Spent() <= cb.Spent()))
      ca.RunOnce();
    else
      cb.RunOnce();
  }
}

}  // namespace usmoe_bench
