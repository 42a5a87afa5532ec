// Exact top-c threshold of a short array by one value-binned histogram pass.
#ifndef USMOE_SRC_SELECT_TOPC_BINNED_H_
#define USMOE_SRC_SELECT_TOPC_BINNED_H_

#include <cstdint>
#include <vector>

#include "src/select/topc_radix.h"

namespace usmoe {

struct BinnedScratch {
  std::vector<int32_t> bins;    // one bin per value
  std::vector<uint32_t> hist;   // two histograms (even and odd cells)
  std::vector<float> members;   // the threshold bin's values
  std::vector<float> work;      // nth_element's copy of them
  std::vector<float> top;       // the values above a cut, when c is small
  // The first cut to try in the next call of the same n and c: the value of
  // rank ~1.7c in the last such array (EC columns of one block look alike).
  // Speed only: the result never depends on it.
  float hint = 0.0f;
  int64_t hint_n = -1, hint_c = -1;
};

// The same threshold as FindTopCThreshold over values[0..n) (every cell a
// candidate): the c-th largest value's key, and how many cells equal to it
// the selection takes. 1 <= c <= n < 2^32. No NaN in values.
TopCThreshold FindTopCThresholdBinned(const float* values, int64_t n, int64_t c,
                                      BinnedScratch* scratch);
// The same, given the array's minimum lo and maximum hi (saves a pass).
TopCThreshold FindTopCThresholdBinned(const float* values, int64_t n, int64_t c, float lo,
                                      float hi, BinnedScratch* scratch);

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_TOPC_BINNED_H_
