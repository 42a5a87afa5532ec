// Argument checks shared by the C entry points.
#ifndef USMOE_CAPI_ARGS_H_
#define USMOE_CAPI_ARGS_H_

#include <cstdint>
#include <vector>

#include "usmoe/usmoe.h"

namespace usmoe {

// Upper bound on T (and on any one matrix dimension): row indices are packed
// into 32 bits by the selection kernels.
constexpr int64_t kMaxRows = INT32_MAX;

// Checks group_sizes/num_groups against T and writes G+1 row offsets (one
// group of T rows when group_sizes is NULL and num_groups is 0).
usmoe_status ParseGroups(const char* fn, const int64_t* group_sizes, int64_t num_groups,
                         int64_t num_tokens, std::vector<int64_t>* offsets);

// Checks a positive size and that it fits kMaxRows.
usmoe_status CheckSize(const char* fn, const char* name, int64_t value);

// rows × cols elements, or an OUT_OF_MEMORY/INVALID failure if it overflows.
usmoe_status CheckProduct(const char* fn, const char* what, int64_t rows, int64_t cols,
                          int64_t* product);

// NaN/Inf anywhere in a rows×cols f32 matrix: NON_FINITE_INPUT naming
// the matrix, the row and column (with their names).
usmoe_status CheckFinite(const char* fn, const char* what, const float* m, int64_t rows,
                         int64_t cols, const char* row_name, const char* col_name);

// bf16 bit patterns: exponent all ones is NaN or Inf.
usmoe_status CheckFiniteBf16(const char* fn, const char* what, const uint16_t* m,
                             int64_t rows, int64_t cols, const char* row_name,
                             const char* col_name);

// True when [a, a+an) and [b, b+bn) bytes overlap.
bool Overlaps(const void* a, int64_t an, const void* b, int64_t bn);

}  // namespace usmoe

#endif  // USMOE_CAPI_ARGS_H_
