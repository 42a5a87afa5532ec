// The object behind usmoe_experts: shape, backend, packed weights and a pool
// of forward-pass workspaces. Internal to src/exec/.
#ifndef USMOE_SRC_EXEC_EXPERTS_IMPL_H_
#define USMOE_SRC_EXEC_EXPERTS_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "src/exec/experts.h"

namespace usmoe {

// One FFN applied to a contiguous block of rows: the unit both backends run.
// x: rows×d activations (f32, or bf16 bit patterns when the backend wants
// bf16 GEMM inputs); h: rows×hidden intermediate (same element type as x);
// out: rows×d f32 (row stride d).
struct FfnSegment {
  int64_t ffn = 0;  // 0..N-1 routed experts, N..N+S-1 shared experts
  int64_t rows = 0;
  int64_t hidden = 0;
  const void* x = nullptr;
  void* h = nullptr;
  float* out = nullptr;
};

// Growable, uninitialised, 64-byte aligned buffers reused across forward
// calls (a fresh 100 MB of page faults per call cost more than the combine).
class Workspace {
 public:
  // Slot `i` with at least `bytes` bytes; contents undefined.
  void* Get(size_t i, size_t bytes);

 private:
  std::vector<hwy::AlignedFreeUniquePtr<uint8_t[]>> bufs_;
  std::vector<size_t> sizes_;
};

// A backend: runs FFN segments (up projection + activation, then down
// projection) into seg.out. Implementations are read-only after creation
// and safe to call from several threads at once.
class FfnBackend {
 public:
  virtual ~FfnBackend() = default;
  // Whether segment inputs and intermediates are bf16 (else f32).
  virtual bool Bf16Activations() const = 0;
  // Runs every segment; each output row depends only on its own input row
  // and the packed weights (never on the thread count or the other rows).
  virtual void Run(const FfnSegment* segs, int64_t count, int threads) const = 0;
};

std::unique_ptr<FfnBackend> MakeHighwayBackend(const ExpertsShape& shape, bool bf16,
                                               const void* w1, const void* w3, const void* w2,
                                               const void* shared_w1, const void* shared_w3,
                                               const void* shared_w2);

class ExpertsImpl {
 public:
  ExpertsShape shape;
  Backend backend = Backend::kHighway;
  std::unique_ptr<FfnBackend> ffn;

  // A workspace for one forward call, returned to the pool when it goes out
  // of scope; concurrent calls get different workspaces.
  class Lease {
   public:
    Lease(const ExpertsImpl* owner, std::unique_ptr<Workspace> ws)
        : owner_(owner), ws_(std::move(ws)) {}
    ~Lease() { owner_->Release(std::move(ws_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Workspace& operator*() const { return *ws_; }

   private:
    const ExpertsImpl* owner_;
    std::unique_ptr<Workspace> ws_;
  };
  Lease Acquire() const;

 private:
  void Release(std::unique_ptr<Workspace> ws) const;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace usmoe

#endif  // USMOE_SRC_EXEC_EXPERTS_IMPL_H_
