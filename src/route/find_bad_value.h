// First NaN / first non-finite value of an f32 array: the input checks in
// front of every kernel (C API) and after the gate GEMM (routing).
#ifndef USMOE_SRC_ROUTE_FIND_BAD_VALUE_H_
#define USMOE_SRC_ROUTE_FIND_BAD_VALUE_H_

#include <cstdint>

namespace usmoe {

// Index of the first NaN in v[0..n), or -1. ±Inf are not NaN.
int64_t FindFirstNaN(const float* v, int64_t n);

// Index of the first NaN or ±Inf in v[0..n), or -1.
int64_t FindFirstNonFinite(const float* v, int64_t n);

}  // namespace usmoe

#endif  // USMOE_SRC_ROUTE_FIND_BAD_VALUE_H_
