// usmoe_experts: configuration, creation and the forward pass.
#include <cstddef>
#include <cstring>

#include "capi/args.h"
#include "capi/error.h"
#include "capi/handles.h"

namespace usmoe {
namespace {

// usmoe_experts_config as 0.1 knew it: up to shared_hidden (no backend).
constexpr int64_t kExpertsConfigSizeV01 =
    static_cast<int64_t>(offsetof(usmoe_experts_config, backend));

// Copies the caller's config (of the current size, or 0.1's smaller one:
// later fields then keep their defaults) into *out.
usmoe_status ReadExpertsConfig(const char* fn, const usmoe_experts_config* in,
                               usmoe_experts_config* out) {
  const int64_t size = in->struct_size;
  if (size != static_cast<int64_t>(sizeof(usmoe_experts_config)) &&
      size != kExpertsConfigSizeV01)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                "%s: config->struct_size = %lld, expected sizeof(usmoe_experts_config) = %zu "
                "(or %lld from a 0.1 header; call usmoe_experts_config_init)",
                fn, static_cast<long long>(size), sizeof(usmoe_experts_config),
                static_cast<long long>(kExpertsConfigSizeV01));
  usmoe_experts_config c;
  std::memset(&c, 0, sizeof(c));
  c.backend = USMOE_BACKEND_AUTO;
  std::memcpy(&c, in, static_cast<size_t>(size));
  c.struct_size = sizeof(c);
  *out = c;
  return USMOE_STATUS_SUCCESS;
}

usmoe_status CheckExpertsConfig(const char* fn, const usmoe_experts_config* c) {
  if (usmoe_status s = CheckSize(fn, "config->num_experts", c->num_experts)) return s;
  if (usmoe_status s = CheckSize(fn, "config->dim", c->dim)) return s;
  if (usmoe_status s = CheckSize(fn, "config->hidden", c->hidden)) return s;
  if (c->activation < USMOE_ACTIVATION_SWIGLU || c->activation > USMOE_ACTIVATION_RELU)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT,
                "%s: config->activation = %d is not a usmoe_activation", fn, c->activation);
  if (c->dtype != USMOE_DTYPE_F32 && c->dtype != USMOE_DTYPE_BF16)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->dtype = %d is not a usmoe_dtype", fn,
                c->dtype);
  if (c->num_shared < 0 || c->num_shared > kMaxRows)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->num_shared = %lld, expected >= 0",
                fn, static_cast<long long>(c->num_shared));
  if (c->num_shared > 0) {
    if (usmoe_status s = CheckSize(fn, "config->shared_hidden", c->shared_hidden)) return s;
  }
  if (c->backend < USMOE_BACKEND_AUTO || c->backend > USMOE_BACKEND_ONEDNN)
    return Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config->backend = %d is not a usmoe_backend",
                fn, c->backend);
  if (c->backend == USMOE_BACKEND_ONEDNN && !OneDnnBackendBuilt())
    return Fail(USMOE_STATUS_UNSUPPORTED,
                "%s: config->backend = USMOE_BACKEND_ONEDNN, but this build of usmoe has no "
                "oneDNN (configured with USMOE_WITH_ONEDNN=OFF); use USMOE_BACKEND_AUTO or "
                "USMOE_BACKEND_HIGHWAY",
                fn);
  int64_t per, all;
  if (usmoe_status s = CheckProduct(fn, "an expert's W1", c->hidden, c->dim, &per)) return s;
  if (usmoe_status s = CheckProduct(fn, "W1 of all experts", c->num_experts, per, &all)) return s;
  if (c->num_shared > 0) {
    if (usmoe_status s = CheckProduct(fn, "a shared expert's W1", c->shared_hidden, c->dim, &per))
      return s;
    if (usmoe_status s = CheckProduct(fn, "W1 of all shared experts", c->num_shared, per, &all))
      return s;
  }
  return USMOE_STATUS_SUCCESS;
}

// Checks one weight tensor of `count` experts, each rows×cols.
usmoe_status CheckWeight(const char* fn, const char* name, const void* w, usmoe_dtype dtype,
                         int64_t count, int64_t rows, int64_t cols) {
  const int64_t n = count * rows;
  return dtype == USMOE_DTYPE_BF16
             ? CheckFiniteBf16(fn, name, static_cast<const uint16_t*>(w), n, cols,
                               "expert·row", "column")
             : CheckFinite(fn, name, static_cast<const float*>(w), n, cols, "expert·row",
                           "column");
}

}  // namespace
}  // namespace usmoe

extern "C" {

USMOE_API usmoe_status usmoe_experts_config_init(usmoe_experts_config* config) {
  if (!config)
    return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "usmoe_experts_config_init: config is NULL");
  usmoe_experts_config c;
  std::memset(&c, 0, sizeof(c));
  c.struct_size = sizeof(c);
  c.activation = USMOE_ACTIVATION_SWIGLU;
  c.dtype = USMOE_DTYPE_F32;
  c.backend = USMOE_BACKEND_AUTO;
  *config = c;
  return usmoe::Succeed();
}

USMOE_API usmoe_status usmoe_experts_create(const usmoe_experts_config* config, const void* w1,
                                            const void* w3, const void* w2,
                                            const void* shared_w1, const void* shared_w3,
                                            const void* shared_w2, usmoe_experts** experts) {
  static const char* fn = "usmoe_experts_create";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    if (!config) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: config is NULL", fn);
    if (!experts) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: experts is NULL", fn);
    usmoe_experts_config cfg;
    if (usmoe_status s = usmoe::ReadExpertsConfig(fn, config, &cfg)) return s;
    config = &cfg;
    if (usmoe_status s = usmoe::CheckExpertsConfig(fn, config)) return s;
    const bool gated = config->activation == USMOE_ACTIVATION_SWIGLU;
    const bool shared = config->num_shared > 0;
    struct Need {
      const char* name;
      const void* ptr;
      bool wanted;
    } needs[] = {{"w1", w1, true},
                 {"w3", w3, gated},
                 {"w2", w2, true},
                 {"shared_w1", shared_w1, shared},
                 {"shared_w3", shared_w3, shared && gated},
                 {"shared_w2", shared_w2, shared}};
    for (const Need& n : needs) {
      if (n.wanted && !n.ptr)
        return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", fn, n.name);
      if (!n.wanted && n.ptr)
        return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                           "%s: %s must be NULL for this configuration (%s)", fn, n.name,
                           gated ? "no shared experts" : "activation has no W3");
    }
    const int64_t N = config->num_experts, d = config->dim, f = config->hidden;
    const int64_t S = config->num_shared, fs = config->shared_hidden;
    const usmoe_dtype dt = config->dtype;
    if (usmoe_status s = usmoe::CheckWeight(fn, "w1", w1, dt, N, f, d)) return s;
    if (gated)
      if (usmoe_status s = usmoe::CheckWeight(fn, "w3", w3, dt, N, f, d)) return s;
    if (usmoe_status s = usmoe::CheckWeight(fn, "w2", w2, dt, N, d, f)) return s;
    if (shared) {
      if (usmoe_status s = usmoe::CheckWeight(fn, "shared_w1", shared_w1, dt, S, fs, d)) return s;
      if (gated)
        if (usmoe_status s = usmoe::CheckWeight(fn, "shared_w3", shared_w3, dt, S, fs, d))
          return s;
      if (usmoe_status s = usmoe::CheckWeight(fn, "shared_w2", shared_w2, dt, S, d, fs)) return s;
    }
    usmoe::ExpertsShape shape;
    shape.num_experts = N;
    shape.dim = d;
    shape.hidden = f;
    shape.activation = static_cast<usmoe::Activation>(config->activation);
    shape.num_shared = S;
    shape.shared_hidden = shared ? fs : 0;
    auto e = std::make_unique<usmoe_experts>();
    e->config = *config;
    const usmoe::Backend backend =
        usmoe::ResolveBackend(static_cast<usmoe::Backend>(config->backend), dt == USMOE_DTYPE_BF16);
    e->impl = usmoe::PackExperts(shape, dt == USMOE_DTYPE_BF16, backend, w1, w3, w2, shared_w1,
                                 shared_w3, shared_w2);
    *experts = e.release();
    return usmoe::Succeed();
  });
}

USMOE_API void usmoe_experts_destroy(usmoe_experts* experts) {
  if (!experts || experts->magic != kExpertsMagic) return;
  experts->magic = 0;
  delete experts;
}

USMOE_API usmoe_status usmoe_experts_forward(const usmoe_experts* experts, const float* x,
                                             int64_t num_tokens, const usmoe_plan* plan,
                                             float* y) {
  static const char* fn = "usmoe_experts_forward";
  return usmoe::Guarded(fn, [&]() -> usmoe_status {
    if (usmoe_status s = usmoe::CheckHandle(fn, "experts", "usmoe_experts", experts)) return s;
    if (!x) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: x is NULL", fn);
    if (usmoe_status s = usmoe::CheckHandle(fn, "plan", "usmoe_plan", plan)) return s;
    if (!y) return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT, "%s: y is NULL", fn);
    if (usmoe_status s = usmoe::CheckSize(fn, "num_tokens", num_tokens)) return s;
    const usmoe_experts_config& c = experts->config;
    const usmoe::PlanData& p = plan->current;
    if (p.num_tokens != num_tokens || p.num_experts != c.num_experts)
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                         "%s: plan routes %lld tokens to %lld experts, but num_tokens = %lld and "
                         "the experts object has %lld experts",
                         fn, static_cast<long long>(p.num_tokens),
                         static_cast<long long>(p.num_experts),
                         static_cast<long long>(num_tokens),
                         static_cast<long long>(c.num_experts));
    int64_t n;
    if (usmoe_status s = usmoe::CheckProduct(fn, "x", num_tokens, c.dim, &n)) return s;
    if (usmoe::Overlaps(x, n * 4, y, n * 4))
      return usmoe::Fail(USMOE_STATUS_INVALID_ARGUMENT,
                         "%s: y overlaps x (the forward pass is not in place)", fn);
    if (usmoe_status s = usmoe::CheckFinite(fn, "x", x, num_tokens, c.dim, "token", "feature"))
      return s;
    usmoe::ExpertsForward(*experts->impl, x, num_tokens, p, y);
    return usmoe::Succeed();
  });
}

}  // extern "C"
