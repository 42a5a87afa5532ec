// Version, status strings, threads and SIMD target control.
#include <omp.h>

#include "capi/error.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "src/runtime/threads.h"
#include "usmoe/usmoe.h"

extern "C" {

USMOE_API int32_t usmoe_version(void) { return USMOE_VERSION_NUMBER; }

USMOE_API const char* usmoe_status_string(usmoe_status status) {
  switch (status) {
    case USMOE_STATUS_SUCCESS: return "success";
    case USMOE_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case USMOE_STATUS_NON_FINITE_INPUT: return "non-finite input";
    case USMOE_STATUS_BUFFER_TOO_SMALL: return "buffer too small";
    case USMOE_STATUS_OUT_OF_MEMORY: return "out of memory";
    case USMOE_STATUS_UNSUPPORTED: return "unsupported";
    case USMOE_STATUS_INTERNAL_ERROR: return "internal error";
    default: return "unknown status";
  }
}

USMOE_API usmoe_status usmoe_set_num_threads(int32_t num_threads) {
  if (num_threads < 0 || num_threads > 4096)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                       "usmoe_set_num_threads: num_threads = %d, expected 0..4096",
                       num_threads);
  usmoe::SetNumThreads(num_threads);
  return usmoe::Succeed();
}

USMOE_API usmoe_status usmoe_get_num_threads(int32_t* num_threads) {
  if (!num_threads)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "usmoe_get_num_threads: num_threads is NULL");
  *num_threads = usmoe::NumThreads();
  return usmoe::Succeed();
}

namespace {
// What usmoe_simd_set_targets last forced (0: nothing). Highway's
// SupportedTargets() reports only the forced target while one is forced, so
// the real set is read with the override lifted.
int64_t g_forced_targets = 0;

// Targets compiled into this build (HWY_TARGETS) that the CPU supports.
int64_t CompiledSupportedTargets() {
  if (g_forced_targets != 0) hwy::SetSupportedTargetsForTest(0);
  const int64_t real = static_cast<int64_t>(hwy::SupportedTargets()) & static_cast<int64_t>(HWY_TARGETS);
  if (g_forced_targets != 0) hwy::SetSupportedTargetsForTest(g_forced_targets);
  return real;
}
}  // namespace

USMOE_API usmoe_status usmoe_simd_supported_targets(int64_t* targets) {
  if (!targets)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                       "usmoe_simd_supported_targets: targets is NULL");
  *targets = CompiledSupportedTargets();
  return usmoe::Succeed();
}

USMOE_API usmoe_status usmoe_simd_set_targets(int64_t mask) {
  const int64_t supported = CompiledSupportedTargets();
  if (mask != 0 && (mask & supported) == 0)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                       "usmoe_simd_set_targets: mask 0x%llx has no target this build "
                       "and CPU support (supported: 0x%llx)",
                       static_cast<unsigned long long>(mask),
                       static_cast<unsigned long long>(supported));
  g_forced_targets = mask & supported;
  hwy::SetSupportedTargetsForTest(g_forced_targets);
  return usmoe::Succeed();
}

USMOE_API usmoe_status usmoe_simd_target_name(const char** name) {
  if (!name)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "usmoe_simd_target_name: name is NULL");
  // The best target dispatch will choose: the lowest set bit is the best.
  const int64_t t = static_cast<int64_t>(hwy::SupportedTargets()) & HWY_TARGETS;
  *name = hwy::TargetName(t & -t);
  return usmoe::Succeed();
}

}  // extern "C"
