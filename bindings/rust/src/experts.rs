//! [`ExpertsConfig`], [`ExpertWeights`] and [`Experts`].
use std::ffi::c_void;
use std::fmt;
use std::ptr::NonNull;

use crate::error::check;
use crate::{check_len, mul, sys, to_i64};
use crate::{Activation, Backend, DType, Element, Error, Plan, Result};

/// The configuration of [`Experts`] (`usmoe_experts_config`).
///
/// [`ExpertsConfig::new`] sets the defaults of `usmoe_experts_config_init`:
/// SwiGLU, f32 weights, no shared experts, [`Backend::Auto`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpertsConfig {
    /// N ≥ 1 routed experts.
    pub num_experts: usize,
    /// d ≥ 1, the model dimension.
    pub dim: usize,
    /// f ≥ 1, the intermediate size of a routed expert.
    pub hidden: usize,
    /// The FFN activation.
    pub activation: Activation,
    /// Element type of the weights (activations are always f32).
    pub dtype: DType,
    /// Shared experts applied densely to every token, ≥ 0.
    pub num_shared: usize,
    /// Their intermediate size; ≥ 1 if `num_shared > 0`.
    pub shared_hidden: usize,
    /// The GEMM backend.
    pub backend: Backend,
}

impl ExpertsConfig {
    /// N experts, model dimension d, intermediate size f; SwiGLU, f32, no
    /// shared experts.
    pub fn new(num_experts: usize, dim: usize, hidden: usize) -> ExpertsConfig {
        ExpertsConfig {
            num_experts,
            dim,
            hidden,
            activation: Activation::SwiGlu,
            dtype: DType::F32,
            num_shared: 0,
            shared_hidden: 0,
            backend: Backend::Auto,
        }
    }
    /// Sets [`activation`](Self::activation).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
    /// Sets [`dtype`](Self::dtype).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
    /// Sets [`backend`](Self::backend).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
    /// Sets [`num_shared`](Self::num_shared) and [`shared_hidden`](Self::shared_hidden).
    pub fn shared(mut self, num_shared: usize, shared_hidden: usize) -> Self {
        self.num_shared = num_shared;
        self.shared_hidden = shared_hidden;
        self
    }

    /// The C struct (with `struct_size` set).
    pub fn to_c(&self) -> Result<sys::usmoe_experts_config> {
        Ok(sys::usmoe_experts_config {
            struct_size: std::mem::size_of::<sys::usmoe_experts_config>() as i64,
            num_experts: to_i64(self.num_experts, "num_experts")?,
            dim: to_i64(self.dim, "dim")?,
            hidden: to_i64(self.hidden, "hidden")?,
            activation: self.activation.to_c(),
            dtype: self.dtype.to_c(),
            num_shared: to_i64(self.num_shared, "num_shared")?,
            shared_hidden: to_i64(self.shared_hidden, "shared_hidden")?,
            backend: self.backend.to_c(),
        })
    }
}

/// The weights of a set of expert FFNs, row-major: `w1` and `w3` are
/// count×f×d, `w2` is count×d×f. `w3` is `Some` for SwiGLU only.
#[derive(Clone, Copy, Debug)]
pub struct ExpertWeights<'a, E: Element> {
    /// count×f×d.
    pub w1: &'a [E],
    /// count×f×d, SwiGLU only (`None` otherwise).
    pub w3: Option<&'a [E]>,
    /// count×d×f.
    pub w2: &'a [E],
}

impl<'a, E: Element> ExpertWeights<'a, E> {
    /// SwiGLU weights `W2 (silu(W1 x) ⊙ W3 x)`.
    pub fn swiglu(w1: &'a [E], w3: &'a [E], w2: &'a [E]) -> Self {
        ExpertWeights {
            w1,
            w3: Some(w3),
            w2,
        }
    }
    /// Two-layer MLP weights `W2 act(W1 x)` (GELU or ReLU).
    pub fn mlp(w1: &'a [E], w2: &'a [E]) -> Self {
        ExpertWeights { w1, w3: None, w2 }
    }

    fn check(&self, what: &str, count: usize, hidden: usize, dim: usize) -> Result<()> {
        let n = mul(mul(count, hidden, "count*hidden")?, dim, "count*hidden*dim")?;
        let formula = if what == "shared" {
            "num_shared*shared_hidden*dim"
        } else {
            "num_experts*hidden*dim"
        };
        check_len(&format!("{what} w1"), self.w1.len(), n, formula)?;
        if let Some(w3) = self.w3 {
            check_len(&format!("{what} w3"), w3.len(), n, formula)?;
        }
        check_len(&format!("{what} w2"), self.w2.len(), n, formula)
    }
}

/// The expert FFNs (`usmoe_experts`), weights copied and packed at creation.
/// [`forward`](Self::forward) computes
/// `y_t = Σ_{e∈sel(t)} w_te · FFN_e(x_t) + Σ_shared FFN_s(x_t)` from a [`Plan`].
///
/// `Send + Sync`: read-only after creation, usable from several threads at once.
///
/// ```
/// use usmoe::{ExpertWeights, Experts, ExpertsConfig, Policy, Router, RouterConfig};
/// let (n, d, f) = (4, 8, 16);
/// let (w1, w3, w2) = (vec![0.01f32; n * f * d], vec![0.02f32; n * f * d], vec![0.03f32; n * d * f]);
/// let experts = Experts::new(&ExpertsConfig::new(n, d, f), ExpertWeights::swiglu(&w1, &w3, &w2), None)?;
/// let router = Router::new(&RouterConfig::new(Policy::TokenChoice, n, d).k(2.0), &vec![0.1f32; n * d])?;
/// let x = vec![1.0f32; 3 * d]; // T = 3
/// let plan = router.route_new(&x, None, None)?;
/// let y = experts.forward_new(&x, &plan)?;
/// assert_eq!(y.len(), 3 * d);
/// # Ok::<(), usmoe::Error>(())
/// ```
pub struct Experts {
    ptr: NonNull<sys::usmoe_experts>,
    config: ExpertsConfig,
}

// SAFETY: the C library documents an experts object as immutable after
// creation and safe for concurrent use from several threads.
unsafe impl Send for Experts {}
// SAFETY: as above; every method taking &self only reads it.
unsafe impl Sync for Experts {}

impl Experts {
    /// Creates the experts from the routed experts' weights and, when
    /// `config.num_shared > 0`, the shared experts' weights. The element type
    /// must match `config.dtype`. Missing or extra weights (e.g. `w3` with a
    /// GELU activation) and NaN/Inf are reported by the library.
    pub fn new<E: Element>(
        config: &ExpertsConfig,
        routed: ExpertWeights<'_, E>,
        shared: Option<ExpertWeights<'_, E>>,
    ) -> Result<Experts> {
        if E::DTYPE != config.dtype {
            return Err(Error::invalid(format!(
                "the weights have dtype {:?} but config.dtype is {:?}",
                E::DTYPE,
                config.dtype
            )));
        }
        routed.check("routed", config.num_experts, config.hidden, config.dim)?;
        if let Some(s) = &shared {
            s.check(
                "shared",
                config.num_shared,
                config.shared_hidden,
                config.dim,
            )?;
        }
        let c = config.to_c()?;
        let p = |s: Option<&[E]>| s.map_or(std::ptr::null(), |s| s.as_ptr() as *const c_void);
        let mut raw: *mut sys::usmoe_experts = std::ptr::null_mut();
        // SAFETY: c is valid with struct_size set; each non-NULL weight holds
        // the number of elements checked above; raw is a valid out-pointer.
        check(unsafe {
            sys::usmoe_experts_create(
                &c,
                p(Some(routed.w1)),
                p(routed.w3),
                p(Some(routed.w2)),
                p(shared.map(|s| s.w1)),
                p(shared.and_then(|s| s.w3)),
                p(shared.map(|s| s.w2)),
                &mut raw,
            )
        })?;
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("usmoe_experts_create succeeded but returned NULL"))?;
        Ok(Experts {
            ptr,
            config: *config,
        })
    }

    /// The configuration the experts were created with.
    pub fn config(&self) -> &ExpertsConfig {
        &self.config
    }

    /// The raw handle, for calling [`sys`] functions directly. It stays owned
    /// by `self`.
    pub fn as_ptr(&self) -> *const sys::usmoe_experts {
        self.ptr.as_ptr()
    }

    /// `y = Σ w · FFN(x)` for the T = `x.len() / d` tokens of `x` (T×d f32),
    /// routed by `plan` (from a route of the same T and N). `y` (T×d) is
    /// fully overwritten; a token with no expert and no shared expert gets 0.
    pub fn forward(&self, x: &[f32], plan: &Plan, y: &mut [f32]) -> Result<()> {
        let d = self.config.dim;
        if d == 0 || x.len() % d != 0 {
            return Err(Error::invalid(format!(
                "x has {} elements, not a multiple of dim = {d}",
                x.len()
            )));
        }
        check_len("y", y.len(), x.len(), "num_tokens*dim")?;
        let t = to_i64(x.len() / d, "num_tokens")?;
        // SAFETY: live handles; x and y hold T*d f32 and cannot overlap
        // (shared and exclusive borrows).
        check(unsafe {
            sys::usmoe_experts_forward(
                self.ptr.as_ptr(),
                x.as_ptr(),
                t,
                plan.as_ptr(),
                y.as_mut_ptr(),
            )
        })
    }

    /// Like [`forward`](Self::forward), into a new vector.
    pub fn forward_new(&self, x: &[f32], plan: &Plan) -> Result<Vec<f32>> {
        let mut y = vec![0.0f32; x.len()];
        self.forward(x, plan, &mut y)?;
        Ok(y)
    }
}

impl Drop for Experts {
    fn drop(&mut self) {
        // SAFETY: the handle is live and owned by self; destroyed once.
        unsafe { sys::usmoe_experts_destroy(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Experts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Experts")
            .field("config", &self.config)
            .finish()
    }
}
