// usmoe-bench --plot DIR: the routing picture's data (assignment.json) and
// the call of bench/plot/usmoe_plot.py that draws the pictures.
#ifndef USMOE_BENCH_PLOT_H_
#define USMOE_BENCH_PLOT_H_

#include <string>

#include "options.h"

namespace usmoe_bench {

// Routes one group of min(64, T) tokens of the run's inputs under Token
// Choice and under the unified mechanism and writes both selection masks to
// DIR/assignment.json. Returns "" or an error.
std::string WriteAssignment(const std::string& dir, const Options& o);

// Runs /usr/bin/python3 usmoe_plot.py DIR. Returns "" or an error.
std::string RunPlotScript(const std::string& dir);

}  // namespace usmoe_bench

#endif  // USMOE_BENCH_PLOT_H_
