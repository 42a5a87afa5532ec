//! Raw declarations of the C API of `include/usmoe/usmoe.h`, written by hand.
//!
//! Every item has the name and the type of its C counterpart: status codes
//! and enum values are plain `i32` constants (never a Rust `enum`, so a value
//! the C side adds later cannot be undefined behaviour here), structs are
//! `#[repr(C)]` with the same fields in the same order, and handles are
//! opaque types only ever used behind pointers. The crate's tests check these
//! declarations against the header text and against a C compiler's `sizeof`
//! and `offsetof`.
//!
//! Everything here is `unsafe` to call; the safe API of the crate root is
//! built on it.
#![allow(non_camel_case_types)]
// The functions are documented in the header; each has its C name and types.
#![allow(missing_docs)]

use std::ffi::{c_char, c_void};
use std::marker::{PhantomData, PhantomPinned};

// ---------------------------------------------------------------- version

/// `USMOE_VERSION_MAJOR` of the header these declarations mirror.
pub const USMOE_VERSION_MAJOR: i32 = 0;
/// `USMOE_VERSION_MINOR` of the header these declarations mirror.
pub const USMOE_VERSION_MINOR: i32 = 2;
/// `USMOE_VERSION_PATCH` of the header these declarations mirror.
pub const USMOE_VERSION_PATCH: i32 = 0;
/// `MAJOR*10000 + MINOR*100 + PATCH`.
pub const USMOE_VERSION_NUMBER: i32 =
    USMOE_VERSION_MAJOR * 10000 + USMOE_VERSION_MINOR * 100 + USMOE_VERSION_PATCH;

// ----------------------------------------------------------------- status

/// `usmoe_status`: returned by every function.
pub type usmoe_status = i32;
/// Success.
pub const USMOE_STATUS_SUCCESS: usmoe_status = 0;
/// An argument is NULL, out of range, or inconsistent with another.
pub const USMOE_STATUS_INVALID_ARGUMENT: usmoe_status = 1;
/// NaN or ±Inf in an input (X, W) or in the computed logits.
pub const USMOE_STATUS_NON_FINITE_INPUT: usmoe_status = 2;
/// A caller-provided capacity is smaller than what the result needs.
pub const USMOE_STATUS_BUFFER_TOO_SMALL: usmoe_status = 3;
/// An allocation failed, or a size product overflows.
pub const USMOE_STATUS_OUT_OF_MEMORY: usmoe_status = 4;
/// A valid request this build or CPU cannot serve.
pub const USMOE_STATUS_UNSUPPORTED: usmoe_status = 5;
/// A bug in usmoe.
pub const USMOE_STATUS_INTERNAL_ERROR: usmoe_status = 6;

// ------------------------------------------------------------------ enums

/// `usmoe_dtype`.
pub type usmoe_dtype = i32;
/// f32 values.
pub const USMOE_DTYPE_F32: usmoe_dtype = 0;
/// bf16 values as `u16` bit patterns, f32 accumulation.
pub const USMOE_DTYPE_BF16: usmoe_dtype = 1;

/// `usmoe_policy`.
pub type usmoe_policy = i32;
/// Each token: top-k of its row.
pub const USMOE_POLICY_TOKEN_CHOICE: usmoe_policy = 0;
/// Each expert: top-C of its column.
pub const USMOE_POLICY_EXPERT_CHOICE: usmoe_policy = 1;
/// Each group: global top-c cells.
pub const USMOE_POLICY_UNIFIED: usmoe_policy = 2;

/// `usmoe_expert_score`.
pub type usmoe_expert_score = i32;
/// `f_e = sigmoid(L)·2/N` (default).
pub const USMOE_EXPERT_SCORE_SIGMOID: usmoe_expert_score = 0;
/// `f_e` = softmax over the group's valid tokens, per column.
pub const USMOE_EXPERT_SCORE_SOFTMAX_TOKENS: usmoe_expert_score = 1;

/// `usmoe_gate_norm`.
pub type usmoe_gate_norm = i32;
/// Gate = selected score (default).
pub const USMOE_GATE_NORM_NONE: usmoe_gate_norm = 0;
/// Divided by the sum over the token's selected experts.
pub const USMOE_GATE_NORM_SELECTED: usmoe_gate_norm = 1;
/// Divided by the sum of the token's scores over all N experts.
pub const USMOE_GATE_NORM_ALL: usmoe_gate_norm = 2;

/// `usmoe_activation`.
pub type usmoe_activation = i32;
/// `W2 (silu(W1 x) ⊙ W3 x)`.
pub const USMOE_ACTIVATION_SWIGLU: usmoe_activation = 0;
/// `W2 gelu_tanh(W1 x)`.
pub const USMOE_ACTIVATION_GELU_TANH: usmoe_activation = 1;
/// `W2 gelu_erf(W1 x)`.
pub const USMOE_ACTIVATION_GELU_ERF: usmoe_activation = 2;
/// `W2 relu(W1 x)`.
pub const USMOE_ACTIVATION_RELU: usmoe_activation = 3;

/// `usmoe_backend`.
pub type usmoe_backend = i32;
/// Highway, except bf16 weights on a CPU without AVX512_BF16: oneDNN where built in.
pub const USMOE_BACKEND_AUTO: usmoe_backend = 0;
/// The portable Highway grouped GEMM (every build).
pub const USMOE_BACKEND_HIGHWAY: usmoe_backend = 1;
/// oneDNN matmul (builds with oneDNN; otherwise `USMOE_STATUS_UNSUPPORTED`).
pub const USMOE_BACKEND_ONEDNN: usmoe_backend = 2;

// ---------------------------------------------------------------- handles

/// Opaque `usmoe_plan` (only used behind pointers).
#[repr(C)]
pub struct usmoe_plan {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `usmoe_router` (only used behind pointers).
#[repr(C)]
pub struct usmoe_router {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `usmoe_experts` (only used behind pointers).
#[repr(C)]
pub struct usmoe_experts {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

// ---------------------------------------------------------------- structs

/// `usmoe_plan_view`: a read-only view of a plan's buffers (owned by the
/// plan, valid until the next route into it or its destruction).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct usmoe_plan_view {
    /// Set by the caller: `size_of::<usmoe_plan_view>()`.
    pub struct_size: i64,
    /// T.
    pub num_tokens: i64,
    /// N.
    pub num_experts: i64,
    /// c: number of selected (token, expert) cells.
    pub num_selected: i64,
    /// `[N+1]`.
    pub expert_offsets: *const i64,
    /// `[c]`, ascending within each expert.
    pub token_ids: *const i64,
    /// `[c]`.
    pub weights: *const f32,
    /// `[T]`.
    pub token_counts: *const i64,
    /// `[N]`.
    pub expert_loads: *const i64,
    /// `[T*N]` or NULL.
    pub scores: *const f32,
    /// `[T+1]` or NULL.
    pub token_offsets: *const i64,
    /// `[c]` or NULL.
    pub token_experts: *const i64,
    /// `[c]` or NULL.
    pub token_weights: *const f32,
}

/// `usmoe_router_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct usmoe_router_config {
    /// `size_of::<usmoe_router_config>()`.
    pub struct_size: i64,
    /// N ≥ 1.
    pub num_experts: i64,
    /// d ≥ 1.
    pub dim: i64,
    /// One of `USMOE_POLICY_*`.
    pub policy: usmoe_policy,
    /// One of `USMOE_DTYPE_*`, of W and of X.
    pub dtype: usmoe_dtype,
    /// Experts per token (see the header for the per-policy range).
    pub k: f64,
    /// Unified score mix, in [0, 1].
    pub alpha: f64,
    /// EXPERT_CHOICE only; > 0, finite.
    pub capacity_factor: f64,
    /// One of `USMOE_EXPERT_SCORE_*`.
    pub expert_score: usmoe_expert_score,
    /// One of `USMOE_GATE_NORM_*`.
    pub gate_norm: usmoe_gate_norm,
    /// Nonzero: the plan keeps the T×N scores.
    pub keep_scores: i32,
    /// Nonzero: the plan builds the per-token view.
    pub token_view: i32,
}

/// `usmoe_experts_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct usmoe_experts_config {
    /// `size_of::<usmoe_experts_config>()`.
    pub struct_size: i64,
    /// N ≥ 1.
    pub num_experts: i64,
    /// d ≥ 1.
    pub dim: i64,
    /// f ≥ 1.
    pub hidden: i64,
    /// One of `USMOE_ACTIVATION_*`.
    pub activation: usmoe_activation,
    /// One of `USMOE_DTYPE_*`, of the weights.
    pub dtype: usmoe_dtype,
    /// Shared experts applied to every token, ≥ 0.
    pub num_shared: i64,
    /// Their intermediate size; ≥ 1 if `num_shared > 0`.
    pub shared_hidden: i64,
    /// One of `USMOE_BACKEND_*` (added in 0.2).
    pub backend: usmoe_backend,
}

// -------------------------------------------------------------- functions

extern "C" {
    pub fn usmoe_version() -> i32;

    pub fn usmoe_status_string(status: usmoe_status) -> *const c_char;
    pub fn usmoe_last_error() -> *const c_char;

    pub fn usmoe_set_num_threads(num_threads: i32) -> usmoe_status;
    pub fn usmoe_get_num_threads(num_threads: *mut i32) -> usmoe_status;

    pub fn usmoe_simd_supported_targets(targets: *mut i64) -> usmoe_status;
    pub fn usmoe_simd_set_targets(mask: i64) -> usmoe_status;
    pub fn usmoe_simd_target_name(name: *mut *const c_char) -> usmoe_status;

    pub fn usmoe_plan_create(plan: *mut *mut usmoe_plan) -> usmoe_status;
    pub fn usmoe_plan_destroy(plan: *mut usmoe_plan);
    pub fn usmoe_plan_get_view(plan: *const usmoe_plan, view: *mut usmoe_plan_view)
        -> usmoe_status;

    pub fn usmoe_router_config_init(
        config: *mut usmoe_router_config,
        policy: usmoe_policy,
    ) -> usmoe_status;
    pub fn usmoe_router_create(
        config: *const usmoe_router_config,
        gate_weight: *const c_void,
        router: *mut *mut usmoe_router,
    ) -> usmoe_status;
    pub fn usmoe_router_destroy(router: *mut usmoe_router);
    pub fn usmoe_router_get_config(
        router: *const usmoe_router,
        config: *mut usmoe_router_config,
    ) -> usmoe_status;
    pub fn usmoe_route(
        router: *const usmoe_router,
        x: *const c_void,
        num_tokens: i64,
        group_sizes: *const i64,
        num_groups: i64,
        valid_mask: *const u8,
        plan: *mut usmoe_plan,
    ) -> usmoe_status;

    pub fn usmoe_experts_config_init(config: *mut usmoe_experts_config) -> usmoe_status;
    pub fn usmoe_experts_create(
        config: *const usmoe_experts_config,
        w1: *const c_void,
        w3: *const c_void,
        w2: *const c_void,
        shared_w1: *const c_void,
        shared_w3: *const c_void,
        shared_w2: *const c_void,
        experts: *mut *mut usmoe_experts,
    ) -> usmoe_status;
    pub fn usmoe_experts_destroy(experts: *mut usmoe_experts);
    pub fn usmoe_experts_forward(
        experts: *const usmoe_experts,
        x: *const f32,
        num_tokens: i64,
        plan: *const usmoe_plan,
        y: *mut f32,
    ) -> usmoe_status;

    pub fn usmoe_logits(
        x: *const c_void,
        w: *const c_void,
        dtype: usmoe_dtype,
        num_tokens: i64,
        num_experts: i64,
        dim: i64,
        logits: *mut f32,
    ) -> usmoe_status;
    pub fn usmoe_scores(
        logits: *const f32,
        num_tokens: i64,
        num_experts: i64,
        alpha: f64,
        expert_score: usmoe_expert_score,
        group_sizes: *const i64,
        num_groups: i64,
        valid_mask: *const u8,
        scores: *mut f32,
    ) -> usmoe_status;
    pub fn usmoe_topk_rows(
        scores: *const f32,
        num_tokens: i64,
        num_experts: i64,
        k: i64,
        expert_ids: *mut i64,
        values: *mut f32,
    ) -> usmoe_status;
    pub fn usmoe_topc_cols(
        scores: *const f32,
        num_tokens: i64,
        num_experts: i64,
        capacity: i64,
        token_ids: *mut i64,
        values: *mut f32,
    ) -> usmoe_status;
    pub fn usmoe_topc_global(
        values: *const f32,
        n: i64,
        c: i64,
        indices: *mut i64,
        indices_capacity: i64,
    ) -> usmoe_status;
}
