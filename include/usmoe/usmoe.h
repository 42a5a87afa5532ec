/*
 * usmoe — CPU kernels for sparse Mixture-of-Experts routing and execution.
 *
 * This is the only public header. C99; every function returns usmoe_status;
 * outputs go through pointers; no C++ exception ever crosses this ABI.
 *
 * Conventions that hold for every function below (each comment adds only
 * what differs):
 *   - Sizes are int64_t. A size documented as "≥ 1" that is ≤ 0 gets
 *     USMOE_STATUS_INVALID_ARGUMENT.
 *   - A NULL pointer where an array or handle is required gets
 *     USMOE_STATUS_INVALID_ARGUMENT.
 *   - On any status other than USMOE_STATUS_SUCCESS nothing the caller can
 *     see was written: output arrays, plans and handles are as they were.
 *   - usmoe_last_error() then returns a message naming the argument at fault
 *     (thread-local, valid until the next usmoe_ call on the same thread).
 *   - Matrices are dense, row-major, C-contiguous. Cell (t, e) of a T×N
 *     matrix has flat index t*N + e.
 *   - bf16 values are passed as uint16_t bit patterns (the upper half of an
 *     IEEE f32).
 *   - Input arrays are only read; the library keeps no pointer to them after
 *     the call returns (weights are copied at create time).
 *
 * Thread safety: a router or an experts object may be used by several
 * threads at once (it is read-only after creation), provided each thread
 * routes into its own plan. A plan may not be written by two calls at once.
 * Results never depend on the thread count. They are bit-identical across the
 * SIMD targets with fused multiply-add (AVX-512, AVX2, NEON, SVE); targets
 * without it (SSE4, SSSE3, scalar) may round a score differently in its last
 * bit, and their selection is exact for the scores they computed. One
 * exception, bf16 operands on x86 CPUs with AVX512_BF16 while an AVX-512
 * target is allowed: the bf16 gate GEMM (bf16 routers, usmoe_logits) and the
 * bf16 expert weights use the bf16 dot-product instruction (vdpbf16ps), which
 * adds each k-pair's two exact products into the f32 accumulator and treats
 * denormal inputs and results as zero, so logits may differ from other
 * targets in the last bits (still identical for every thread count); their
 * error against the exact dot product stays within
 * 2·d·2^-24·Σ|x_i·w_i| + Σ_{x_i or w_i denormal}|x_i·w_i| + d·2^-126 (tested).
 * bf16 expert weights then meet activations rounded to bf16 (nearest-even),
 * a relative difference of about 1e-3 in y (measured; bounded by 1e-2 in the
 * tests). Elsewhere bf16 is widened exactly.
 *
 * Routing semantics (scores, policies, ties, groups, masks) are those of
 * "Unified Sparse Mixture of Experts" (Do, Le, Tran; arXiv 2503.22996) as
 * documented in README.md; the comments below repeat what a caller needs.
 */
#ifndef USMOE_USMOE_H_
#define USMOE_USMOE_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define USMOE_API __declspec(dllexport)
#elif defined(__GNUC__)
#define USMOE_API __attribute__((visibility("default")))
#else
#define USMOE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */

#define USMOE_VERSION_MAJOR 0
#define USMOE_VERSION_MINOR 2
#define USMOE_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH. The SONAME carries MAJOR: a change that
 * breaks the ABI bumps MAJOR; an addition bumps MINOR. */
#define USMOE_VERSION_NUMBER \
  (USMOE_VERSION_MAJOR * 10000 + USMOE_VERSION_MINOR * 100 + USMOE_VERSION_PATCH)

/* The number of the library actually loaded (compare with
 * USMOE_VERSION_NUMBER to detect a header/library mismatch). */
USMOE_API int32_t usmoe_version(void);

/* ----------------------------------------------------------------- status */

/* Returned by every function. Plain int32_t values (not a C enum type in
 * signatures) so that bindings never see an out-of-range enum. */
typedef int32_t usmoe_status;
#define USMOE_STATUS_SUCCESS 0
/* An argument is NULL, out of range, or inconsistent with another. */
#define USMOE_STATUS_INVALID_ARGUMENT 1
/* NaN or ±Inf in an input (X, W) or in the computed logits. */
#define USMOE_STATUS_NON_FINITE_INPUT 2
/* A caller-provided capacity is smaller than what the result needs. */
#define USMOE_STATUS_BUFFER_TOO_SMALL 3
/* An allocation failed, or a size product overflows int64 / size_t. */
#define USMOE_STATUS_OUT_OF_MEMORY 4
/* A valid request this build or CPU cannot serve. */
#define USMOE_STATUS_UNSUPPORTED 5
/* A bug in usmoe: please report it with usmoe_last_error(). */
#define USMOE_STATUS_INTERNAL_ERROR 6

/* A static string naming the status ("success", "invalid argument", ...);
 * "unknown status" for a value not listed above. Never NULL. */
USMOE_API const char* usmoe_status_string(usmoe_status status);

/* The message of the last failed call on this thread ("" if none). The
 * string is owned by the library and valid until the next usmoe_ call on
 * this thread. Never NULL. */
USMOE_API const char* usmoe_last_error(void);

/* ------------------------------------------------------------------ enums */

typedef int32_t usmoe_dtype;
#define USMOE_DTYPE_F32 0
#define USMOE_DTYPE_BF16 1 /* uint16_t bit patterns, f32 accumulation */

typedef int32_t usmoe_policy;
#define USMOE_POLICY_TOKEN_CHOICE 0  /* each token: top-k of its row     */
#define USMOE_POLICY_EXPERT_CHOICE 1 /* each expert: top-C of its column */
#define USMOE_POLICY_UNIFIED 2       /* each group: global top-c cells   */

typedef int32_t usmoe_expert_score;
#define USMOE_EXPERT_SCORE_SIGMOID 0        /* f_e = sigmoid(L)·2/N (default) */
#define USMOE_EXPERT_SCORE_SOFTMAX_TOKENS 1 /* f_e = softmax over the group's
                                               valid tokens, per column      */

typedef int32_t usmoe_gate_norm;
#define USMOE_GATE_NORM_NONE 0     /* gate = selected score (default)       */
#define USMOE_GATE_NORM_SELECTED 1 /* divided by the sum over the token's
                                      selected experts                      */
#define USMOE_GATE_NORM_ALL 2      /* divided by the sum of the token's
                                      scores over all N experts             */

typedef int32_t usmoe_activation;
#define USMOE_ACTIVATION_SWIGLU 0    /* W2 (silu(W1 x) ⊙ W3 x)            */
#define USMOE_ACTIVATION_GELU_TANH 1 /* W2 gelu_tanh(W1 x); W3 unused       */
#define USMOE_ACTIVATION_GELU_ERF 2  /* W2 gelu_erf(W1 x); W3 unused        */
#define USMOE_ACTIVATION_RELU 3      /* W2 relu(W1 x); W3 unused            */

/* The GEMM backend of an experts object, fixed at usmoe_experts_create
 * (the weights are packed once, in that backend's layout).
 *   HIGHWAY: the portable grouped GEMM (every build, every CPU). bf16
 *     weights stay bf16 (half the bytes to stream). On x86 CPUs with
 *     AVX512_BF16, while an AVX-512 target is allowed, they meet activations
 *     rounded to bf16 in the bf16 dot-product instruction (as with ONEDNN
 *     below); elsewhere they are widened exactly on load and activations stay
 *     f32, so results match f32 arithmetic on the decoded weights.
 *   ONEDNN: oneDNN matmul (x86 builds configured with oneDNN). f32, or real
 *     bf16 GEMMs for bf16 weights: activations are rounded to bf16
 *     (round-to-nearest-even) before each GEMM, accumulation and outputs are
 *     f32 (a norm-wise relative difference of ~1e-3 from f32 arithmetic).
 *     In a build without oneDNN: USMOE_STATUS_UNSUPPORTED.
 *   AUTO: HIGHWAY, except for bf16 weights on a CPU (or an allowed target
 *     set) without AVX512_BF16, where ONEDNN is taken when built in. Decided
 *     at create time. Measured on a 2-core Zen 5 VM (d 2048, N 64 experts,
 *     top-8, f 1024, SwiGLU, 2 threads; README.md "Expert executor"): with
 *     bf16 weights HIGHWAY (vdpbf16ps) took 2.9 / 21.3 / 145 ms at T = 1 /
 *     32 / 512 tokens against 3.9 / 24.0 / 134 ms for ONEDNN; with f32
 *     weights both are within 15 % at T = 32 and 512 (DRAM- and FMA-bound)
 *     and HIGHWAY is 1.3-1.6x faster at T = 1 (oneDNN's one-row kernels
 *     stream weights more slowly). On a faster host (twice the FMA rate)
 *     ONEDNN led by 5-16 % (README.md); AUTO still avoids its primitive
 *     creation on the first call for each row count (0.3-0.6 s at T = 512).
 *     Pick ONEDNN explicitly where that cost is paid once.
 * Every backend gives results that do not depend on the thread count. */
typedef int32_t usmoe_backend;
#define USMOE_BACKEND_AUTO 0
#define USMOE_BACKEND_HIGHWAY 1
#define USMOE_BACKEND_ONEDNN 2

/* ---------------------------------------------------------------- threads */

/* Sets the number of OpenMP threads usmoe's own parallel regions use, for
 * every later call from any thread. 0 restores OpenMP's default
 * (OMP_NUM_THREADS). num_threads < 0 or > 4096: INVALID_ARGUMENT.
 * A stage splits its work only when it is large enough to pay for a team
 * (tens of thousands of cells; the global top-c of one group, in
 * usmoe_topc_global and UNIFIED routing, from 2^20 cells); smaller ones
 * run on the calling thread
 * without entering an OpenMP region. Called from inside the caller's own
 * active parallel region, usmoe splits nothing: each call runs on its
 * calling thread. Results never depend on either. */
USMOE_API usmoe_status usmoe_set_num_threads(int32_t num_threads);

/* The thread count usmoe will use now (≥ 1). */
USMOE_API usmoe_status usmoe_get_num_threads(int32_t* num_threads);

/* ----------------------------------------------------------- SIMD targets */

/* The Highway targets this CPU supports and this build compiled, as a
 * bit mask of Highway's HWY_* target bits. */
USMOE_API usmoe_status usmoe_simd_supported_targets(int64_t* targets);

/* Restricts dispatch to the targets in mask (one bit forces one target), for
 * tests and benchmarks; 0 restores the default (the best target). A mask
 * with no bit of usmoe_simd_supported_targets(): INVALID_ARGUMENT. Affects
 * the whole process; not to be called while other threads are in usmoe. */
USMOE_API usmoe_status usmoe_simd_set_targets(int64_t mask);

/* The name of the target kernels dispatch to now ("AVX3_DL", "AVX2",
 * "NEON", "SCALAR", ...). Static string, never NULL. */
USMOE_API usmoe_status usmoe_simd_target_name(const char** name);

/* ------------------------------------------------------------------- plan */

/* The output of routing, grouped by expert so the executor reads it directly.
 * Owns its buffers; reused across usmoe_route calls (grown on demand). */
typedef struct usmoe_plan usmoe_plan;

/* Creates an empty plan (num_tokens = 0). *plan receives the handle, to be
 * released with usmoe_plan_destroy. */
USMOE_API usmoe_status usmoe_plan_create(usmoe_plan** plan);

/* Releases the plan and its buffers. NULL is a no-op. Every pointer obtained
 * from usmoe_plan_get_view becomes invalid. */
USMOE_API void usmoe_plan_destroy(usmoe_plan* plan);

/* A read-only view of the plan's buffers. The pointers are owned by the
 * plan and valid until the next usmoe_route into it or its destruction.
 * Let T = num_tokens, N = num_experts, c = num_selected. */
typedef struct usmoe_plan_view {
  int64_t struct_size; /* set by the caller: sizeof(usmoe_plan_view) */
  int64_t num_tokens;
  int64_t num_experts;
  int64_t num_selected; /* c: number of selected (token, expert) cells */
  /* [N+1]: expert e owns entries expert_offsets[e] .. expert_offsets[e+1]-1
   * of token_ids and weights; expert_offsets[0] = 0, [N] = c. */
  const int64_t* expert_offsets;
  const int64_t* token_ids; /* [c]: token index in 0..T-1, ascending within
                               each expert */
  const float* weights;     /* [c]: gate weight of each entry */
  const int64_t* token_counts; /* [T]: experts selected per token (0..N) */
  const int64_t* expert_loads; /* [N]: tokens selected per expert */
  /* [T*N] selection scores (U, or f_t when alpha = 0) as computed for
   * selection; NULL unless the router config set keep_scores. */
  const float* scores;
  /* Per-token view; NULL unless the router config set token_view.
   * token_offsets[T+1]; token t owns entries token_offsets[t] ..
   * token_offsets[t+1]-1 of token_experts (ascending) and token_weights. */
  const int64_t* token_offsets;
  const int64_t* token_experts; /* [c] */
  const float* token_weights;   /* [c] */
} usmoe_plan_view;

/* Fills *view. view->struct_size must be set by the caller; a smaller
 * struct (from an older header) is filled up to its size; a size smaller
 * than the fields of version 0.1 up to token_counts: INVALID_ARGUMENT. */
USMOE_API usmoe_status usmoe_plan_get_view(const usmoe_plan* plan,
                                           usmoe_plan_view* view);

/* ----------------------------------------------------------------- router */

typedef struct usmoe_router usmoe_router;

typedef struct usmoe_router_config {
  int64_t struct_size;      /* sizeof(usmoe_router_config) */
  int64_t num_experts;      /* N ≥ 1 */
  int64_t dim;              /* d ≥ 1 */
  usmoe_policy policy;
  usmoe_dtype dtype;        /* of W (at create) and of X (at route) */
  /* Experts per token. TOKEN_CHOICE: an integer in [1, N] (a fractional k is
   * INVALID_ARGUMENT). EXPERT_CHOICE: in (0, N]; capacity per expert
   * C = min(T_valid, ceil(capacity_factor·k·T_valid/N)) per group.
   * UNIFIED: in [0, N], fractional allowed; budget per group
   * c = min(T_valid·N, floor(k·T_valid + 0.5)). */
  double k;
  /* Unified score U = (1-alpha)·f_t + alpha·f_e, alpha in [0, 1]. */
  double alpha;
  double capacity_factor;   /* EXPERT_CHOICE only; > 0, finite */
  usmoe_expert_score expert_score;
  usmoe_gate_norm gate_norm;
  int32_t keep_scores;      /* nonzero: the plan keeps the T×N scores */
  int32_t token_view;       /* nonzero: the plan builds the per-token view */
} usmoe_router_config;

/* Fills *config with the defaults for the given policy: alpha 0.5 for
 * UNIFIED, 0.0 (plain softmax scores) otherwise; k 8, capacity_factor 1,
 * sigmoid expert score, no gate normalisation, f32, keep_scores and
 * token_view off. num_experts and dim are set to 0 and must be filled in.
 * Sets struct_size. Unknown policy: INVALID_ARGUMENT. */
USMOE_API usmoe_status usmoe_router_config_init(usmoe_router_config* config,
                                                usmoe_policy policy);

/* Creates a router. gate_weight is W, N×d, of config->dtype (float or
 * uint16_t bf16); it is copied and packed, the caller keeps ownership.
 * Errors: bad config fields -> INVALID_ARGUMENT (message names the field);
 * NaN/Inf in W -> NON_FINITE_INPUT (message names expert and feature). */
USMOE_API usmoe_status usmoe_router_create(const usmoe_router_config* config,
                                           const void* gate_weight,
                                           usmoe_router** router);

/* NULL is a no-op. */
USMOE_API void usmoe_router_destroy(usmoe_router* router);

/* Copies the router's configuration (struct_size set by the caller, as in
 * usmoe_plan_get_view). */
USMOE_API usmoe_status usmoe_router_get_config(const usmoe_router* router,
                                               usmoe_router_config* config);

/* Routes T tokens: logits, scores, selection, plan.
 *   x: T×d of the router's dtype.
 *   group_sizes: G sizes ≥ 0 summing to T (a group may be empty); selection
 *     never crosses a group boundary. NULL with num_groups = 0 means one
 *     group of all T tokens. NULL with num_groups ≠ 0, num_groups < 0, a
 *     negative size or a sum ≠ T: INVALID_ARGUMENT.
 *   valid_mask: NULL (all valid) or T bytes, 0 = padding. Padding tokens get
 *     no expert and are excluded from the budget and from the softmax over
 *     tokens.
 *   plan: overwritten on success only.
 * Errors: T < 1: INVALID_ARGUMENT; NaN/Inf in x or in the logits:
 * NON_FINITE_INPUT (message names the first token and feature/expert). */
USMOE_API usmoe_status usmoe_route(const usmoe_router* router, const void* x,
                                   int64_t num_tokens,
                                   const int64_t* group_sizes,
                                   int64_t num_groups,
                                   const uint8_t* valid_mask,
                                   usmoe_plan* plan);

/* ---------------------------------------------------------------- experts */

typedef struct usmoe_experts usmoe_experts;

typedef struct usmoe_experts_config {
  int64_t struct_size;     /* sizeof(usmoe_experts_config) */
  int64_t num_experts;     /* N ≥ 1 */
  int64_t dim;             /* d ≥ 1 */
  int64_t hidden;          /* f ≥ 1: intermediate size of a routed expert */
  usmoe_activation activation;
  usmoe_dtype dtype;       /* of the weights; x and y are always f32 (bf16
                              weights: see the note on bf16 at the top) */
  int64_t num_shared;      /* shared experts applied to every token, ≥ 0 */
  int64_t shared_hidden;   /* their intermediate size; ≥ 1 if num_shared > 0 */
  /* Added in 0.2 (a caller built against 0.1 passes the smaller struct_size
   * and gets USMOE_BACKEND_AUTO): the GEMM backend, see usmoe_backend. */
  usmoe_backend backend;
} usmoe_experts_config;

/* Defaults: SWIGLU, f32, no shared experts, USMOE_BACKEND_AUTO; sizes 0 (to
 * be filled in). */
USMOE_API usmoe_status usmoe_experts_config_init(usmoe_experts_config* config);

/* Creates the experts from weights of config->dtype, copied and packed:
 *   w1: N×f×d, w3: N×f×d (SWIGLU only; must be NULL otherwise), w2: N×d×f;
 *   shared_w1, shared_w3, shared_w2: the same for the num_shared shared
 *   experts with f = shared_hidden (all NULL when num_shared = 0).
 * Errors: INVALID_ARGUMENT for bad fields or missing/extra weights;
 * NON_FINITE_INPUT for NaN/Inf in any weight. */
USMOE_API usmoe_status usmoe_experts_create(const usmoe_experts_config* config,
                                            const void* w1, const void* w3,
                                            const void* w2,
                                            const void* shared_w1,
                                            const void* shared_w3,
                                            const void* shared_w2,
                                            usmoe_experts** experts);

/* NULL is a no-op. */
USMOE_API void usmoe_experts_destroy(usmoe_experts* experts);

/* y_t = Σ_{e ∈ sel(t)} w_te · FFN_e(x_t) + Σ_shared FFN_s(x_t).
 *   x: T×d f32; y: T×d f32, fully overwritten; x and y must not overlap
 *   (INVALID_ARGUMENT). plan: from usmoe_route with the same T and N
 *   (mismatch: INVALID_ARGUMENT). A token with no expert and no shared
 *   expert gets y_t = 0. NaN/Inf in x: NON_FINITE_INPUT. */
USMOE_API usmoe_status usmoe_experts_forward(const usmoe_experts* experts,
                                             const float* x,
                                             int64_t num_tokens,
                                             const usmoe_plan* plan, float* y);

/* ---------------------------------------------------- kernel entry points */
/* The stages of usmoe_route, one at a time, for composition and
 * benchmarking. Same checks and tie rules as usmoe_route. */

/* logits: L = X Wᵀ, T×N f32. x: T×d, w: N×d, both of dtype. bf16: f32
 * accumulation of the exact products; see the numerics note at the top for
 * the avx512_bf16 (vdpbf16ps) case. W is packed on every call: to reuse it,
 * use a router. */
USMOE_API usmoe_status usmoe_logits(const void* x, const void* w,
                                    usmoe_dtype dtype, int64_t num_tokens,
                                    int64_t num_experts, int64_t dim,
                                    float* logits);

/* scores: U = (1-alpha)·softmax_experts(L) + alpha·f_e(L), T×N f32.
 * group_sizes / num_groups / valid_mask as in usmoe_route (they matter only
 * for SOFTMAX_TOKENS; padding rows get U = (1-alpha)·f_t with f_e = 0).
 * Every cell is within 1e-6 relative (plus 1e-12 absolute) of the same
 * formula in double precision; exp(L - row max) below 2^-125 is taken as 0.
 * The bits do not depend on the thread count, and are the same on every x86
 * target with FMA (AVX2, AVX-512). NaN or ±Inf in logits: NON_FINITE_INPUT,
 * scores untouched. */
USMOE_API usmoe_status usmoe_scores(const float* logits, int64_t num_tokens,
                                    int64_t num_experts, double alpha,
                                    usmoe_expert_score expert_score,
                                    const int64_t* group_sizes,
                                    int64_t num_groups,
                                    const uint8_t* valid_mask, float* scores);

/* Row top-k: for each of T rows of a T×N f32 matrix, the k largest cells,
 * in descending order of score (equal scores: lower expert first).
 * expert_ids[T*k], values[T*k]. k in [1, N]. NaN: NON_FINITE_INPUT. */
USMOE_API usmoe_status usmoe_topk_rows(const float* scores, int64_t num_tokens,
                                       int64_t num_experts, int64_t k,
                                       int64_t* expert_ids, float* values);

/* Column top-C: for each of N columns, the C largest cells in descending
 * order (equal scores: lower token first). token_ids[N*C] (row e holds
 * expert e's tokens), values[N*C]. C in [1, T]. NaN: NON_FINITE_INPUT. */
USMOE_API usmoe_status usmoe_topc_cols(const float* scores, int64_t num_tokens,
                                       int64_t num_experts, int64_t capacity,
                                       int64_t* token_ids, float* values);

/* Global top-c of n floats: the flat indices of the c largest values
 * (equal values: lower index first; -0.0 equals +0.0), written in ascending
 * index order to indices[0..c-1]. c in [0, n]. ±Inf allowed, NaN:
 * NON_FINITE_INPUT. indices_capacity < c: BUFFER_TOO_SMALL. */
USMOE_API usmoe_status usmoe_topc_global(const float* values, int64_t n,
                                         int64_t c, int64_t* indices,
                                         int64_t indices_capacity);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* USMOE_USMOE_H_ */
