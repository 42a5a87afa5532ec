// Thread-local error context and argument-check helpers for the C ABI.
#ifndef USMOE_CAPI_ERROR_H_
#define USMOE_CAPI_ERROR_H_

#include <cstdint>
#include <exception>
#include <new>

#include "usmoe/usmoe.h"

namespace usmoe {

// Records a printf-style message for usmoe_last_error() and returns status.
usmoe_status Fail(usmoe_status status, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
usmoe_status Succeed();

// a*b, or -1 when the product of two non-negative values overflows the
// largest allocation we accept (a quarter of int64, so ×sizeof stays safe).
int64_t CheckedMul(int64_t a, int64_t b);

}  // namespace usmoe

namespace usmoe {

// Every exported function body runs inside this: nothing may unwind across
// the ABI, and an allocation failure becomes a status.
template <class Body>
usmoe_status Guarded(const char* fn, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(USMOE_STATUS_OUT_OF_MEMORY, "%s: out of memory", fn);
  } catch (const std::exception& e) {  // a dependency's failure (oneDNN)
    return Fail(USMOE_STATUS_INTERNAL_ERROR, "%s: %s", fn, e.what());
  } catch (...) {
    return Fail(USMOE_STATUS_INTERNAL_ERROR, "%s: unexpected exception", fn);
  }
}

}  // namespace usmoe

#endif  // USMOE_CAPI_ERROR_H_
