// Creation of an experts object: backend choice, packing, workspace pool.
#include <algorithm>
#include <new>
#include <utility>

#include "src/exec/experts_impl.h"
#include "src/gate/logits.h"
#if USMOE_WITH_ONEDNN
#include "src/exec/experts_onednn.h"
#endif

namespace usmoe {

bool OneDnnBackendBuilt() {
#if USMOE_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

Backend ResolveBackend(Backend requested, bool bf16) {
  if (requested != Backend::kAuto) return requested;
  // Measured (usmoe-bench --stage moe: d 2048, N 64, k 8, f 1024, 2 threads,
  // README.md "Expert executor"). bf16 weights: where vdpbf16ps runs, the
  // Highway kernels took 2.9 / 21.3 / 145 ms at T = 1 / 32 / 512 against
  // oneDNN's 3.9 / 24.0 / 134 ms: decoding, the common case of a bf16
  // deployment, is 1.1-1.3x faster, prefill 8 % slower. Without vdpbf16ps
  // the Highway kernels widen bf16 to f32 (1.2-2.3x slower than oneDNN's
  // real bf16 GEMMs), so oneDNN where built. f32 weights: within 15 % at
  // T = 32 and 512 (DRAM- and FMA-bound) and oneDNN's M = 1 kernels stream
  // weights more slowly (1.3-1.6x slower at T = 1): Highway.
  if (bf16 && !Bf16DotUsable() && OneDnnBackendBuilt()) return Backend::kOneDnn;
  return Backend::kHighway;
}

std::shared_ptr<const ExpertsImpl> PackExperts(const ExpertsShape& shape, bool bf16,
                                               Backend backend, const void* w1,
                                               const void* w3, const void* w2,
                                               const void* shared_w1, const void* shared_w3,
                                               const void* shared_w2) {
  auto impl = std::make_shared<ExpertsImpl>();
  impl->shape = shape;
  impl->backend = backend;
#if USMOE_WITH_ONEDNN
  if (backend == Backend::kOneDnn) {
    impl->ffn = MakeOneDnnBackend(shape, bf16, w1, w3, w2, shared_w1, shared_w3, shared_w2);
    return impl;
  }
#endif
  impl->backend = Backend::kHighway;
  impl->ffn = MakeHighwayBackend(shape, bf16, w1, w3, w2, shared_w1, shared_w3, shared_w2);
  return impl;
}

const ExpertsShape& ExpertsShapeOf(const ExpertsImpl& experts) { return experts.shape; }

void* Workspace::Get(size_t i, size_t bytes) {
  if (i >= bufs_.size()) {
    bufs_.resize(i + 1);
    sizes_.resize(i + 1, 0);
  }
  if (sizes_[i] < bytes) {
    bufs_[i].reset();  // free first: the old contents are not needed
    sizes_[i] = 0;
    bufs_[i] = hwy::AllocateAligned<uint8_t>(bytes);
    if (!bufs_[i]) throw std::bad_alloc();
    sizes_[i] = bytes;
  }
  return bufs_[i].get();
}

ExpertsImpl::Lease ExpertsImpl::Acquire() const {
  std::unique_ptr<Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      ws = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!ws) ws = std::make_unique<Workspace>();
  return Lease(this, std::move(ws));
}

void ExpertsImpl::Release(std::unique_ptr<Workspace> ws) const {
  if (!ws) return;
  try {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(ws));
  } catch (...) {
    // Out of memory for the pool entry: the workspace is simply freed.
  }
}

}  // namespace usmoe
