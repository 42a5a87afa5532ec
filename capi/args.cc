#include "capi/args.h"

#include "capi/error.h"
#include "src/route/route_pipeline.h"

namespace usmoe {

usmoe_status ParseGroups(const char* fn, const int64_t* group_sizes, int64_t num_groups,
                         int64_t num_tokens, std::vector<int64_t>* offsets) {
  if (!group_sizes) {
    if (num_groups != 0)
      return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                  "%s: group_sizes is NULL but num_groups = %lld (use 0 for one group)", fn,
                  static_cast<long long>(num_groups));
    offsets->assign({0, num_tokens});
    return USMOE_STATUS_SUCCESS;
  }
  if (num_groups < 1)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: num_groups = %lld, expected >= 1", fn,
                static_cast<long long>(num_groups));
  if (num_groups > num_tokens + kMaxRows)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: num_groups = %lld is too large", fn,
                static_cast<long long>(num_groups));
  int64_t sum = 0;
  for (int64_t g = 0; g < num_groups; ++g) {
    const int64_t s = group_sizes[g];
    if (s < 0)
      return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: group_sizes[%lld] = %lld is negative",
                  fn, static_cast<long long>(g), static_cast<long long>(s));
    if (s > num_tokens - sum)
      return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                  "%s: group_sizes sum past num_tokens = %lld at group %lld", fn,
                  static_cast<long long>(num_tokens), static_cast<long long>(g));
    sum += s;
  }
  if (sum != num_tokens)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                "%s: group_sizes sum to %lld, expected num_tokens = %lld", fn,
                static_cast<long long>(sum), static_cast<long long>(num_tokens));
  offsets->resize(num_groups + 1);
  (*offsets)[0] = 0;
  for (int64_t g = 0; g < num_groups; ++g) (*offsets)[g + 1] = (*offsets)[g] + group_sizes[g];
  return USMOE_STATUS_SUCCESS;
}

usmoe_status CheckSize(const char* fn, const char* name, int64_t value) {
  if (value < 1)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: %s = %lld, expected >= 1", fn, name,
                static_cast<long long>(value));
  if (value > kMaxRows)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: %s = %lld exceeds the limit %lld", fn,
                name, static_cast<long long>(value), static_cast<long long>(kMaxRows));
  return USMOE_STATUS_SUCCESS;
}

usmoe_status CheckProduct(const char* fn, const char* what, int64_t rows, int64_t cols,
                          int64_t* product) {
  const int64_t p = CheckedMul(rows, cols);
  if (p < 0)
    return Fail(USMOE_STATUS_OUT_OF_MEMORY, "%s: %s has %lld x %lld elements: too large", fn,
                what, static_cast<long long>(rows), static_cast<long long>(cols));
  *product = p;
  return USMOE_STATUS_SUCCESS;
}

usmoe_status CheckFinite(const char* fn, const char* what, const float* m, int64_t rows,
                         int64_t cols, const char* row_name, const char* col_name) {
  int64_t r, c;
  if (FindNonFinite(m, rows, cols, &r, &c))
    return Fail(USMOE_STATUS_NON_FINITE_INPUT, "%s: %s[%lld][%lld] is NaN or Inf (%s %lld, %s %lld)",
                fn, what, static_cast<long long>(r), static_cast<long long>(c), row_name,
                static_cast<long long>(r), col_name, static_cast<long long>(c));
  return USMOE_STATUS_SUCCESS;
}

usmoe_status CheckFiniteBf16(const char* fn, const char* what, const uint16_t* m,
                             int64_t rows, int64_t cols, const char* row_name,
                             const char* col_name) {
  int64_t r, c;
  if (FindNonFiniteBf16(m, rows, cols, &r, &c))
    return Fail(USMOE_STATUS_NON_FINITE_INPUT, "%s: %s[%lld][%lld] is NaN or Inf (%s %lld, %s %lld)",
                fn, what, static_cast<long long>(r), static_cast<long long>(c), row_name,
                static_cast<long long>(r), col_name, static_cast<long long>(c));
  return USMOE_STATUS_SUCCESS;
}

bool Overlaps(const void* a, int64_t an, const void* b, int64_t bn) {
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(bn) && pb < pa + static_cast<uintptr_t>(an);
}

}  // namespace usmoe
