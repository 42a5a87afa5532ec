// The structs behind the opaque handles of usmoe.h.
#ifndef USMOE_CAPI_HANDLES_H_
#define USMOE_CAPI_HANDLES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "src/exec/experts.h"
#include "src/plan/plan_data.h"
#include "capi/error.h"
#include "src/route/route_pipeline.h"
#include "usmoe/usmoe.h"

// A tag in every handle lets a call reject a pointer that is not a live
// handle of the right kind (a foreign or already-destroyed one, where the
// memory has not been reused) instead of reading garbage.
enum : uint64_t {
  kPlanMagic = 0x6e616c70656f6d75ull,     // "umoeplan"
  kRouterMagic = 0x7274756f656f6d75ull,   // "umoeoutr"
  kExpertsMagic = 0x7078656f656f6d75ull,  // "umoeoexp"
};

struct usmoe_plan {
  uint64_t magic = kPlanMagic;
  usmoe::PlanData current;   // what accessors show
  usmoe::PlanData spare;     // built into, then swapped: failures leave current intact
  usmoe::RouteScratch scratch;
};

struct usmoe_router {
  uint64_t magic = kRouterMagic;
  usmoe_router_config config;
  usmoe::RouterSpec spec;
  std::vector<float> weight;          // f32 routers: PackGateWeight panels
  std::vector<uint16_t> weight_bf16;  // bf16 routers: PackBf16Pairs
};

struct usmoe_experts {
  uint64_t magic = kExpertsMagic;
  usmoe_experts_config config;
  std::shared_ptr<const usmoe::ExpertsImpl> impl;
};

namespace usmoe {

template <class H> constexpr uint64_t MagicOf();
template <> constexpr uint64_t MagicOf<usmoe_plan>() { return kPlanMagic; }
template <> constexpr uint64_t MagicOf<usmoe_router>() { return kRouterMagic; }
template <> constexpr uint64_t MagicOf<usmoe_experts>() { return kExpertsMagic; }

// INVALID_ARGUMENT unless h is a live handle of its kind, naming the
// argument (and kind) in the message.
template <class H>
usmoe_status CheckHandle(const char* fn, const char* name, const char* kind, const H* h) {
  if (!h) return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (h->magic != MagicOf<H>())
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: %s is not a live %s handle", fn, name, kind);
  return USMOE_STATUS_SUCCESS;
}

}  // namespace usmoe

#endif  // USMOE_CAPI_HANDLES_H_
