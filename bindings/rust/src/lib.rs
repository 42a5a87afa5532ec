//! Safe Rust bindings to **usmoe**, CPU kernels for sparse Mixture-of-Experts
//! routing and expert execution, over its C ABI (`include/usmoe/usmoe.h`).
//!
//! Three objects mirror the C handles:
//!
//! * [`Router`]: the router weight `W` (N×d) and a [`RouterConfig`] (policy,
//!   `k`, `alpha`, expert-side score, gate normalisation, ...). It computes the
//!   logits `L = X Wᵀ`, the scores `U = (1-α)·softmax(L) + α·f_e(L)` and the
//!   selection, and writes a [`Plan`].
//! * [`Plan`]: the routing result grouped by expert (`expert_offsets`,
//!   `token_ids`, `weights`), per-token counts and per-expert loads, and
//!   optionally the scores and a per-token view. Reused across calls.
//! * [`Experts`]: the expert FFNs (SwiGLU or GELU/ReLU MLPs, optional shared
//!   experts); [`Experts::forward`] computes `y_t = Σ w_te · FFN_e(x_t)`.
//!
//! The kernel-level stages are free functions: [`logits`], [`scores`],
//! [`topk_rows`], [`topc_cols`], [`topc_global`].
//!
//! Policies ([`Policy`]): `TokenChoice` (each token takes its top-k experts,
//! k an integer), `ExpertChoice` (each expert takes its top-C tokens) and
//! `Unified` (the global top-c cells of each group's score matrix,
//! `c = floor(k·T_valid + 0.5)`; k may be fractional and a token may get 0..N
//! experts). Ties are broken by the lower index, and results do not depend on
//! the thread count or SIMD target. With `Unified`, a token's experts depend
//! on the other tokens of its group; for autoregressive decoding with one
//! token per group it reduces to that token's top-k of `U`.
//!
//! # Rust example
//!
//! The golden vector of the design: with `W` the identity (N = d = 4), the
//! logits are `X` itself, and `Unified` routing with k = 2, α = 0.5 selects
//! t0:{0}, t1:{1,2}, t2:{0,1,2}, t3:{2,3}.
//!
//! ```
//! use usmoe::{Policy, Router, RouterConfig};
//! let w: Vec<f32> = (0..16).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect(); // W = I (N = d = 4)
//! let router = Router::new(&RouterConfig::new(Policy::Unified, 4, 4).k(2.0), &w)?;
//! let x: [f32; 16] = [2.0, 0.1, -1.0, 0.5, -0.3, 0.2, 0.1, 0.0, 1.5, 1.4, 1.3, -2.0, 0.0, -0.5, 0.9, 1.1];
//! let plan = router.route_new(&x, None, None)?; // one group, every token valid
//! assert_eq!(plan.expert_loads(), &[2, 2, 3, 1]); // 8 = k·T cells; t0 gets 1 expert, t2 gets 3
//! # Ok::<(), usmoe::Error>(())
//! ```
//!
//! # Errors
//!
//! Every fallible call returns [`Result`]; an [`Error`] carries the C status,
//! its [`ErrorKind`] and the C library's message (which names the argument at
//! fault). The library validates the arguments (fractional `k` under token
//! choice, `alpha` outside [0, 1], NaN/Inf inputs, group sizes that do not
//! sum to T, ...); this crate only adds the checks C cannot make, such as a
//! slice length that does not match the sizes. On error, no output was written.
//!
//! ```
//! use usmoe::{ErrorKind, Policy, Router, RouterConfig};
//! let cfg = RouterConfig::new(Policy::TokenChoice, 4, 2).k(1.5);
//! let err = Router::new(&cfg, &[0.0f32; 8]).unwrap_err();
//! assert_eq!(err.kind, ErrorKind::InvalidArgument);
//! println!("{err}"); // usmoe: invalid argument: usmoe_router_create: ... k ...
//! ```
//!
//! # Data types
//!
//! Inputs are `&[f32]`, or `&[u16]` bf16 bit patterns for a router or
//! experts whose dtype is [`DType::Bf16`] (see [`Element`], [`f32_to_bf16`]).
//! Matrices are dense and row-major; cell (t, e) of a T×N matrix is at
//! `t*N + e`. Sizes are `usize` here and `int64_t` in C.
//!
//! # Threads
//!
//! [`Router`] and [`Experts`] are `Send + Sync`: the C library documents
//! them as read-only after creation and safe to use from several threads at
//! once, each routing into its own [`Plan`]. A [`Plan`] is `Send`; it is
//! `Sync` too, because only [`Router::route`] writes it and that takes
//! `&mut Plan`. The OpenMP thread count of the library's own parallel
//! regions is set with [`set_num_threads`].
//!
//! # Linking
//!
//! `build.rs` links the CMake-built `libusmoe.so` from `$USMOE_LIB_DIR`, or
//! from `../../build` relative to this crate; the rpath it adds reaches this
//! package's own tests and examples only. A dependent crate reads
//! `DEP_USMOE_LIB_DIR` to add its own rpath, or enables the `static` feature.
#![warn(missing_docs)]

use std::ffi::CStr;
use std::fmt;

mod error;
mod experts;
mod kernels;
mod plan;
mod router;
pub mod sys;

pub use error::{status_string, Error, ErrorKind, Result};
pub use experts::{ExpertWeights, Experts, ExpertsConfig};
pub use kernels::{logits, scores, topc_cols, topc_global, topk_rows};
pub use plan::{Plan, TokenView};
pub use router::{Router, RouterConfig};

use error::check;

// ------------------------------------------------------------------ enums

macro_rules! c_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $c:path),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var),+
        }
        impl $name {
            /// The C value (`USMOE_*` constant).
            pub const fn to_c(self) -> i32 {
                match self { $($name::$var => $c),+ }
            }
            /// The variant of a C value, `None` for a value this crate does not know.
            pub const fn from_c(v: i32) -> Option<Self> {
                $(if v == $c { return Some($name::$var); })+
                None
            }
        }
    };
}

c_enum! {
    /// Element type of weights and inputs (`usmoe_dtype`).
    DType {
        /// `f32` (`USMOE_DTYPE_F32`).
        F32 = sys::USMOE_DTYPE_F32,
        /// bf16 as `u16` bit patterns, f32 accumulation (`USMOE_DTYPE_BF16`).
        Bf16 = sys::USMOE_DTYPE_BF16,
    }
}

c_enum! {
    /// Selection policy of a router (`usmoe_policy`).
    Policy {
        /// Each token takes the top-k cells of its row; k an integer in [1, N].
        TokenChoice = sys::USMOE_POLICY_TOKEN_CHOICE,
        /// Each expert takes the top-C cells of its column,
        /// `C = min(T, ceil(capacity_factor·k·T/N))`; tokens may get no expert.
        ExpertChoice = sys::USMOE_POLICY_EXPERT_CHOICE,
        /// Each group's global top-c cells, `c = min(T·N, floor(k·T_valid + 0.5))`;
        /// k may be fractional.
        Unified = sys::USMOE_POLICY_UNIFIED,
    }
}

c_enum! {
    /// Expert-side score `f_e` of the unified score (`usmoe_expert_score`).
    ExpertScore {
        /// `sigmoid(L)·2/N`, element-wise (the default; causal).
        Sigmoid = sys::USMOE_EXPERT_SCORE_SIGMOID,
        /// Softmax over the group's valid tokens, per column (not causal).
        SoftmaxTokens = sys::USMOE_EXPERT_SCORE_SOFTMAX_TOKENS,
    }
}

c_enum! {
    /// Normalisation of the gate weights (`usmoe_gate_norm`).
    GateNorm {
        /// The gate is the selected score, unnormalised (the default).
        None = sys::USMOE_GATE_NORM_NONE,
        /// Divided by the sum over the token's selected experts.
        Selected = sys::USMOE_GATE_NORM_SELECTED,
        /// Divided by the sum of the token's scores over all N experts.
        All = sys::USMOE_GATE_NORM_ALL,
    }
}

c_enum! {
    /// Expert FFN activation (`usmoe_activation`).
    Activation {
        /// `W2 (silu(W1 x) ⊙ W3 x)` (the default).
        SwiGlu = sys::USMOE_ACTIVATION_SWIGLU,
        /// `W2 gelu_tanh(W1 x)`; no W3.
        GeluTanh = sys::USMOE_ACTIVATION_GELU_TANH,
        /// `W2 gelu_erf(W1 x)`; no W3.
        GeluErf = sys::USMOE_ACTIVATION_GELU_ERF,
        /// `W2 relu(W1 x)`; no W3.
        Relu = sys::USMOE_ACTIVATION_RELU,
    }
}

c_enum! {
    /// The GEMM backend of [`Experts`] (`usmoe_backend`), fixed at creation.
    Backend {
        /// Highway, except bf16 weights on a CPU without AVX512_BF16, which
        /// get oneDNN where built in (the default; measurements in `usmoe.h`).
        Auto = sys::USMOE_BACKEND_AUTO,
        /// The portable Highway grouped GEMM (every build, every CPU).
        Highway = sys::USMOE_BACKEND_HIGHWAY,
        /// oneDNN matmul; with bf16 weights the activations are rounded to
        /// bf16 before each GEMM. A library built without oneDNN reports
        /// `USMOE_STATUS_UNSUPPORTED`.
        OneDnn = sys::USMOE_BACKEND_ONEDNN,
    }
}

// --------------------------------------------------------------- elements

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u16 {}
}

/// An element type the library accepts for weights and router inputs:
/// `f32` ([`DType::F32`]) or `u16` holding bf16 bit patterns ([`DType::Bf16`]).
pub trait Element: sealed::Sealed + Copy + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}

impl Element for u16 {
    const DTYPE: DType = DType::Bf16;
}

/// Converts an `f32` to bf16 bits, rounding to nearest even (NaN stays NaN).
pub fn f32_to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// Converts bf16 bits to the `f32` they denote (exact).
pub fn bf16_to_f32(v: u16) -> f32 {
    f32::from_bits((v as u32) << 16)
}

// ------------------------------------------------------ sizes and checks

/// `usize` → `i64` for the C API.
pub(crate) fn to_i64(v: usize, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(format!("{what} = {v} does not fit in int64")))
}

/// `a*b`, or an error naming the product.
pub(crate) fn mul(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| Error::invalid(format!("{what} overflows usize")))
}

/// Checks `slice_len == expected`.
pub(crate) fn check_len(
    name: &str,
    slice_len: usize,
    expected: usize,
    formula: &str,
) -> Result<()> {
    if slice_len == expected {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name} has {slice_len} elements, expected {formula} = {expected}"
        )))
    }
}

/// Pointer of an optional slice (NULL for `None`).
pub(crate) fn opt_ptr<T>(s: Option<&[T]>) -> *const T {
    s.map_or(std::ptr::null(), <[T]>::as_ptr)
}

// ---------------------------------------------------------------- version

/// A library version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incompatible ABI changes.
    pub major: u32,
    /// Additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

impl Version {
    /// From `MAJOR*10000 + MINOR*100 + PATCH`.
    pub const fn from_number(n: i32) -> Version {
        let n = if n < 0 { 0 } else { n as u32 };
        Version {
            major: n / 10000,
            minor: (n / 100) % 100,
            patch: n % 100,
        }
    }

    /// `MAJOR*10000 + MINOR*100 + PATCH`.
    pub const fn number(self) -> i32 {
        (self.major * 10000 + self.minor * 100 + self.patch) as i32
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The version of the header these bindings were written against.
pub const HEADER_VERSION: Version = Version::from_number(sys::USMOE_VERSION_NUMBER);

/// The version of the library actually loaded (`usmoe_version()`).
///
/// ```
/// assert_eq!(usmoe::version().major, usmoe::HEADER_VERSION.major);
/// ```
pub fn version() -> Version {
    // SAFETY: no arguments.
    Version::from_number(unsafe { sys::usmoe_version() })
}

// ---------------------------------------------------------------- threads

/// Sets the number of OpenMP threads of usmoe's parallel regions, for every
/// later call from any thread; 0 restores OpenMP's default
/// (`OMP_NUM_THREADS`). More than 4096 is an error.
pub fn set_num_threads(num_threads: usize) -> Result<()> {
    let n = i32::try_from(num_threads).map_err(|_| {
        Error::invalid(format!("num_threads = {num_threads} does not fit in int32"))
    })?;
    // SAFETY: plain value.
    check(unsafe { sys::usmoe_set_num_threads(n) })
}

/// The thread count usmoe uses now (≥ 1).
pub fn num_threads() -> Result<usize> {
    let mut n = 0i32;
    // SAFETY: valid out-pointer.
    check(unsafe { sys::usmoe_get_num_threads(&mut n) })?;
    Ok(n.max(0) as usize)
}

// ------------------------------------------------------------------- SIMD

/// The Highway targets this CPU supports and this build compiled, as a bit
/// mask of Highway's `HWY_*` target bits.
pub fn simd_supported_targets() -> Result<i64> {
    let mut t = 0i64;
    // SAFETY: valid out-pointer.
    check(unsafe { sys::usmoe_simd_supported_targets(&mut t) })?;
    Ok(t)
}

/// Restricts dispatch to the targets in `mask` (0 restores the best target).
/// Affects the whole process; not to be called while other threads are in
/// usmoe.
pub fn simd_set_targets(mask: i64) -> Result<()> {
    // SAFETY: plain value.
    check(unsafe { sys::usmoe_simd_set_targets(mask) })
}

/// The name of the SIMD target kernels dispatch to now (`"AVX2"`, `"NEON"`, ...).
pub fn simd_target_name() -> Result<&'static str> {
    let mut p: *const std::ffi::c_char = std::ptr::null();
    // SAFETY: valid out-pointer; the string is static.
    check(unsafe { sys::usmoe_simd_target_name(&mut p) })?;
    if p.is_null() {
        return Ok("");
    }
    // SAFETY: a static NUL-terminated string, per the header.
    Ok(unsafe { CStr::from_ptr(p) }.to_str().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_round_trip() {
        let v = Version::from_number(10203);
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 3));
        assert_eq!(v.number(), 10203);
        assert_eq!(HEADER_VERSION.number(), sys::USMOE_VERSION_NUMBER);
    }

    #[test]
    fn element_dtypes() {
        assert_eq!(<f32 as Element>::DTYPE, DType::F32);
        assert_eq!(<u16 as Element>::DTYPE, DType::Bf16);
    }

    #[test]
    fn rust_side_errors() {
        let e = check_len("x", 3, 4, "T*d").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.status, sys::USMOE_STATUS_INVALID_ARGUMENT);
        assert_eq!(
            e.message,
            "usmoe (rust): x has 3 elements, expected T*d = 4"
        );
        assert!(mul(usize::MAX, 2, "a*b").is_err());
        assert!(opt_ptr::<u8>(None).is_null());
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: even is 1.0.
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3·2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even).
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(bf16_to_f32(f32_to_bf16(-2.5)), -2.5);
    }
}
