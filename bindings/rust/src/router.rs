//! [`RouterConfig`] and [`Router`].
use std::ffi::c_void;
use std::fmt;
use std::ptr::NonNull;

use crate::error::check;
use crate::{check_len, mul, opt_ptr, sys, to_i64};
use crate::{DType, Element, Error, ExpertScore, GateNorm, Plan, Policy, Result};

/// The configuration of a [`Router`] (`usmoe_router_config`).
///
/// [`RouterConfig::new`] sets the documented defaults of
/// `usmoe_router_config_init`: `k` 8, `alpha` 0.5 for [`Policy::Unified`] and
/// 0.0 (plain softmax scores) otherwise, `capacity_factor` 1, sigmoid expert
/// score, no gate normalisation, f32, no kept scores, no per-token view. The
/// builder methods change one field each; the fields are public too. Values
/// are validated by the library when the router is created.
///
/// ```
/// use usmoe::{ExpertScore, GateNorm, Policy, RouterConfig};
/// let cfg = RouterConfig::new(Policy::Unified, 64, 2048)
///     .k(1.5)                         // fractional: 1.5 experts per token on average
///     .alpha(0.5)
///     .expert_score(ExpertScore::Sigmoid)
///     .gate_norm(GateNorm::Selected)
///     .token_view(true);
/// assert_eq!(cfg.num_experts, 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouterConfig {
    /// N ≥ 1.
    pub num_experts: usize,
    /// d ≥ 1.
    pub dim: usize,
    /// The selection policy.
    pub policy: Policy,
    /// Element type of W (at creation) and of X (at routing).
    pub dtype: DType,
    /// Experts per token: an integer in [1, N] for token choice; in (0, N]
    /// for expert choice; in [0, N], fractional allowed, for unified.
    pub k: f64,
    /// `U = (1-alpha)·f_t + alpha·f_e`, in [0, 1].
    pub alpha: f64,
    /// Expert choice only: `C = min(T, ceil(capacity_factor·k·T/N))`; > 0.
    pub capacity_factor: f64,
    /// The expert-side score `f_e`.
    pub expert_score: ExpertScore,
    /// Gate weight normalisation.
    pub gate_norm: GateNorm,
    /// Keep the T×N selection scores in the plan ([`Plan::scores`]).
    pub keep_scores: bool,
    /// Build the per-token view ([`Plan::token_view`]).
    pub token_view: bool,
}

impl RouterConfig {
    /// The defaults for `policy`, with N experts of dimension d.
    pub fn new(policy: Policy, num_experts: usize, dim: usize) -> RouterConfig {
        RouterConfig {
            num_experts,
            dim,
            policy,
            dtype: DType::F32,
            k: 8.0,
            alpha: if policy == Policy::Unified { 0.5 } else { 0.0 },
            capacity_factor: 1.0,
            expert_score: ExpertScore::Sigmoid,
            gate_norm: GateNorm::None,
            keep_scores: false,
            token_view: false,
        }
    }

    /// Sets [`k`](Self::k).
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }
    /// Sets [`alpha`](Self::alpha).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Sets [`capacity_factor`](Self::capacity_factor).
    pub fn capacity_factor(mut self, capacity_factor: f64) -> Self {
        self.capacity_factor = capacity_factor;
        self
    }
    /// Sets [`dtype`](Self::dtype).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
    /// Sets [`expert_score`](Self::expert_score).
    pub fn expert_score(mut self, expert_score: ExpertScore) -> Self {
        self.expert_score = expert_score;
        self
    }
    /// Sets [`gate_norm`](Self::gate_norm).
    pub fn gate_norm(mut self, gate_norm: GateNorm) -> Self {
        self.gate_norm = gate_norm;
        self
    }
    /// Sets [`keep_scores`](Self::keep_scores).
    pub fn keep_scores(mut self, keep_scores: bool) -> Self {
        self.keep_scores = keep_scores;
        self
    }
    /// Sets [`token_view`](Self::token_view).
    pub fn token_view(mut self, token_view: bool) -> Self {
        self.token_view = token_view;
        self
    }

    /// The C struct (with `struct_size` set).
    pub fn to_c(&self) -> Result<sys::usmoe_router_config> {
        Ok(sys::usmoe_router_config {
            struct_size: std::mem::size_of::<sys::usmoe_router_config>() as i64,
            num_experts: to_i64(self.num_experts, "num_experts")?,
            dim: to_i64(self.dim, "dim")?,
            policy: self.policy.to_c(),
            dtype: self.dtype.to_c(),
            k: self.k,
            alpha: self.alpha,
            capacity_factor: self.capacity_factor,
            expert_score: self.expert_score.to_c(),
            gate_norm: self.gate_norm.to_c(),
            keep_scores: self.keep_scores as i32,
            token_view: self.token_view as i32,
        })
    }

    /// From the C struct; an enum value or size this crate cannot represent
    /// is an error.
    pub fn from_c(c: &sys::usmoe_router_config) -> Result<RouterConfig> {
        fn get<T>(v: Option<T>, what: &str, raw: i32) -> Result<T> {
            v.ok_or_else(|| Error::invalid(format!("unknown {what} value {raw}")))
        }
        let size = |v: i64, what: &str| {
            usize::try_from(v).map_err(|_| Error::invalid(format!("{what} = {v} is negative")))
        };
        Ok(RouterConfig {
            num_experts: size(c.num_experts, "num_experts")?,
            dim: size(c.dim, "dim")?,
            policy: get(Policy::from_c(c.policy), "policy", c.policy)?,
            dtype: get(DType::from_c(c.dtype), "dtype", c.dtype)?,
            k: c.k,
            alpha: c.alpha,
            capacity_factor: c.capacity_factor,
            expert_score: get(
                ExpertScore::from_c(c.expert_score),
                "expert_score",
                c.expert_score,
            )?,
            gate_norm: get(GateNorm::from_c(c.gate_norm), "gate_norm", c.gate_norm)?,
            keep_scores: c.keep_scores != 0,
            token_view: c.token_view != 0,
        })
    }
}

/// A router (`usmoe_router`): the router weight W, copied and packed at
/// creation, and its configuration. Routes tokens into a [`Plan`].
///
/// `Send + Sync`: the library documents a router as read-only after creation,
/// usable from several threads at once, each routing into its own plan.
pub struct Router {
    ptr: NonNull<sys::usmoe_router>,
    config: RouterConfig,
}

// SAFETY: the C library documents a router as immutable after creation and
// safe for concurrent use from several threads; it owns no thread-affine state.
unsafe impl Send for Router {}
// SAFETY: as above; every method taking &self only reads the router.
unsafe impl Sync for Router {}

impl Router {
    /// Creates a router from `config` and the router weight W (N×d,
    /// row-major), `&[f32]` or bf16 `&[u16]`; the element type must match
    /// `config.dtype`. W is copied; NaN/Inf in W is an error of kind
    /// [`NonFiniteInput`](crate::ErrorKind::NonFiniteInput).
    pub fn new<E: Element>(config: &RouterConfig, gate_weight: &[E]) -> Result<Router> {
        if E::DTYPE != config.dtype {
            return Err(Error::invalid(format!(
                "gate_weight has elements of dtype {:?} but config.dtype is {:?}",
                E::DTYPE,
                config.dtype
            )));
        }
        let n = mul(config.num_experts, config.dim, "num_experts*dim")?;
        check_len("gate_weight", gate_weight.len(), n, "num_experts*dim")?;
        let c = config.to_c()?;
        let mut raw: *mut sys::usmoe_router = std::ptr::null_mut();
        // SAFETY: c is a valid config with struct_size set; gate_weight holds
        // N*d elements of config.dtype; raw is a valid out-pointer.
        check(unsafe {
            sys::usmoe_router_create(&c, gate_weight.as_ptr() as *const c_void, &mut raw)
        })?;
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("usmoe_router_create succeeded but returned NULL"))?;
        Ok(Router {
            ptr,
            config: *config,
        })
    }

    /// The configuration the router was created with.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The configuration as the library reports it (`usmoe_router_get_config`).
    pub fn c_config(&self) -> Result<sys::usmoe_router_config> {
        // SAFETY: all-zero is a valid value of this plain C struct.
        let mut c: sys::usmoe_router_config = unsafe { std::mem::zeroed() };
        c.struct_size = std::mem::size_of::<sys::usmoe_router_config>() as i64;
        // SAFETY: live handle, valid out-pointer with struct_size set.
        check(unsafe { sys::usmoe_router_get_config(self.ptr.as_ptr(), &mut c) })?;
        Ok(c)
    }

    /// N.
    pub fn num_experts(&self) -> usize {
        self.config.num_experts
    }

    /// d.
    pub fn dim(&self) -> usize {
        self.config.dim
    }

    /// The raw handle, for calling [`sys`] functions directly. It stays owned
    /// by `self`.
    pub fn as_ptr(&self) -> *const sys::usmoe_router {
        self.ptr.as_ptr()
    }

    /// Routes the T = `x.len() / d` tokens of `x` (T×d, row-major, of the
    /// router's dtype) into `plan`, which is overwritten on success only.
    ///
    /// * `group_sizes`: the sizes of the routing groups (sequences), summing
    ///   to T; selection never crosses a group boundary. `None`: one group.
    /// * `valid`: `None` (every token valid) or T bytes, 0 = padding. Padding
    ///   tokens get no expert and are excluded from the budget and from the
    ///   softmax over tokens.
    ///
    /// Errors: `x.len()` not a multiple of d, or `valid` not of length T,
    /// found here; T = 0, bad group sizes and NaN/Inf in `x` or in the logits,
    /// reported by the library.
    pub fn route<E: Element>(
        &self,
        x: &[E],
        group_sizes: Option<&[i64]>,
        valid: Option<&[u8]>,
        plan: &mut Plan,
    ) -> Result<()> {
        if E::DTYPE != self.config.dtype {
            return Err(Error::invalid(format!(
                "x has elements of dtype {:?} but the router's dtype is {:?}",
                E::DTYPE,
                self.config.dtype
            )));
        }
        let d = self.config.dim;
        if d == 0 || x.len() % d != 0 {
            return Err(Error::invalid(format!(
                "x has {} elements, not a multiple of dim = {d}",
                x.len()
            )));
        }
        let t = x.len() / d;
        if let Some(v) = valid {
            check_len("valid", v.len(), t, "num_tokens")?;
        }
        let num_groups = to_i64(group_sizes.map_or(0, <[i64]>::len), "num_groups")?;
        // SAFETY: live router and plan handles (the plan exclusively borrowed);
        // x holds T*d elements of the router's dtype; group_sizes holds
        // num_groups values; valid holds T bytes or is NULL.
        check(unsafe {
            sys::usmoe_route(
                self.ptr.as_ptr(),
                x.as_ptr() as *const c_void,
                to_i64(t, "num_tokens")?,
                opt_ptr(group_sizes),
                num_groups,
                opt_ptr(valid),
                plan.as_mut_ptr(),
            )
        })?;
        plan.refresh()
    }

    /// Like [`route`](Self::route), into a new [`Plan`].
    pub fn route_new<E: Element>(
        &self,
        x: &[E],
        group_sizes: Option<&[i64]>,
        valid: Option<&[u8]>,
    ) -> Result<Plan> {
        let mut plan = Plan::new()?;
        self.route(x, group_sizes, valid, &mut plan)?;
        Ok(plan)
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // SAFETY: the handle is live and owned by self; destroyed once.
        unsafe { sys::usmoe_router_destroy(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("config", &self.config)
            .finish()
    }
}
