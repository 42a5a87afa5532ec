#include "capi/error.h"

#include <cstdarg>
#include <cstdio>

namespace usmoe {
namespace {
thread_local char g_message[512] = "";
}  // namespace

usmoe_status Fail(usmoe_status status, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(g_message, sizeof(g_message), fmt, args);
  va_end(args);
  return status;
}

usmoe_status Succeed() {
  g_message[0] = '\0';
  return USMOE_STATUS_SUCCESS;
}

int64_t CheckedMul(int64_t a, int64_t b) {
  constexpr int64_t kMax = INT64_MAX / 4;
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > kMax / a) return -1;
  return a * b;
}

}  // namespace usmoe

extern "C" {

USMOE_API const char* usmoe_last_error(void) { return usmoe::g_message; }

}  // extern "C"
