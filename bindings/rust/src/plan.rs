//! [`Plan`] and [`TokenView`].
use std::fmt;
use std::ptr::NonNull;

use crate::error::check;
use crate::{sys, Error, Result};

/// The output of routing (`usmoe_plan`), grouped by expert so the executor
/// reads it directly. Created empty, overwritten by each successful
/// [`Router::route`](crate::Router::route) into it (buffers are reused and
/// grown on demand).
///
/// Let T = [`num_tokens`](Self::num_tokens), N = [`num_experts`](Self::num_experts)
/// and c = [`num_selected`](Self::num_selected). Expert `e` owns entries
/// `expert_offsets()[e] .. expert_offsets()[e+1]` of
/// [`token_ids`](Self::token_ids) (ascending) and [`weights`](Self::weights).
///
/// The slices borrow the plan, so the borrow checker prevents routing into
/// it while they are alive. `Send` and `Sync`: only `route` (through
/// `&mut Plan`) writes it.
///
/// ```
/// use usmoe::{Plan, Policy, Router, RouterConfig};
/// let w = [1.0f32, 0.0, 0.0, 1.0];                  // N = d = 2
/// let router = Router::new(&RouterConfig::new(Policy::TokenChoice, 2, 2).k(1.0), &w)?;
/// let mut plan = Plan::new()?;                      // reused across batches
/// router.route(&[3.0f32, 1.0, 0.0, 2.0], None, None, &mut plan)?; // T = 2
/// assert_eq!(plan.expert_offsets(), &[0, 1, 2]);    // expert 0: token 0, expert 1: token 1
/// assert_eq!(plan.token_ids(), &[0, 1]);
/// assert_eq!(plan.mask(), vec![true, false, false, true]);
/// # Ok::<(), usmoe::Error>(())
/// ```
pub struct Plan {
    ptr: NonNull<sys::usmoe_plan>,
    view: sys::usmoe_plan_view,
}

// SAFETY: a plan has no thread affinity; the C side only requires that it is
// not written by two calls at once, which `&mut Plan` guarantees.
unsafe impl Send for Plan {}
// SAFETY: through &Plan, only reads happen (cached view, usmoe_experts_forward
// taking `const usmoe_plan*`); writes need &mut Plan.
unsafe impl Sync for Plan {}

/// A slice from a C pointer and a length; empty when the length is 0 or the
/// pointer NULL.
///
/// # Safety
/// When non-NULL and `len > 0`, `ptr` must point to `len` initialised values
/// that live, unchanged, as long as `'a`.
unsafe fn slice<'a, T>(ptr: *const T, len: i64) -> &'a [T] {
    if ptr.is_null() || len <= 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len as usize)
    }
}

impl Plan {
    /// Creates an empty plan (T = 0).
    pub fn new() -> Result<Plan> {
        let mut raw: *mut sys::usmoe_plan = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        check(unsafe { sys::usmoe_plan_create(&mut raw) })?;
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::invalid("usmoe_plan_create succeeded but returned NULL"))?;
        // SAFETY: all-zero is a valid value of this plain C struct (NULL pointers).
        let view = unsafe { std::mem::zeroed() };
        let mut plan = Plan { ptr, view };
        plan.refresh()?;
        Ok(plan)
    }

    /// Re-reads the view after the plan's buffers changed.
    pub(crate) fn refresh(&mut self) -> Result<()> {
        // SAFETY: as in new.
        let mut v: sys::usmoe_plan_view = unsafe { std::mem::zeroed() };
        v.struct_size = std::mem::size_of::<sys::usmoe_plan_view>() as i64;
        // SAFETY: live handle, valid out-pointer with struct_size set.
        check(unsafe { sys::usmoe_plan_get_view(self.ptr.as_ptr(), &mut v) })?;
        self.view = v;
        Ok(())
    }

    /// The raw handle, for calling [`sys`] functions directly. It stays owned
    /// by `self`.
    pub fn as_ptr(&self) -> *const sys::usmoe_plan {
        self.ptr.as_ptr()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut sys::usmoe_plan {
        self.ptr.as_ptr()
    }

    /// The raw view (pointers valid while `self` is borrowed).
    pub fn raw_view(&self) -> &sys::usmoe_plan_view {
        &self.view
    }

    /// T, the number of tokens routed (0 before the first route).
    pub fn num_tokens(&self) -> usize {
        self.view.num_tokens.max(0) as usize
    }

    /// N, the number of experts.
    pub fn num_experts(&self) -> usize {
        self.view.num_experts.max(0) as usize
    }

    /// c, the number of selected (token, expert) cells.
    pub fn num_selected(&self) -> usize {
        self.view.num_selected.max(0) as usize
    }

    /// `[N+1]`: expert e owns entries `expert_offsets[e] .. expert_offsets[e+1]`;
    /// `[0] = 0`, `[N] = c`. Empty before the first route.
    pub fn expert_offsets(&self) -> &[i64] {
        let n = if self.view.num_experts > 0 {
            self.view.num_experts + 1
        } else {
            0
        };
        // SAFETY: the plan owns N+1 offsets until it is next written (&mut self).
        unsafe { slice(self.view.expert_offsets, n) }
    }

    /// `[c]`: the token of each entry, ascending within each expert.
    pub fn token_ids(&self) -> &[i64] {
        // SAFETY: c entries, owned by the plan.
        unsafe { slice(self.view.token_ids, self.view.num_selected) }
    }

    /// `[c]`: the gate weight of each entry.
    pub fn weights(&self) -> &[f32] {
        // SAFETY: c entries, owned by the plan.
        unsafe { slice(self.view.weights, self.view.num_selected) }
    }

    /// `[T]`: the number of experts of each token (0..N).
    pub fn token_counts(&self) -> &[i64] {
        // SAFETY: T entries, owned by the plan.
        unsafe { slice(self.view.token_counts, self.view.num_tokens) }
    }

    /// `[N]`: the number of tokens of each expert.
    pub fn expert_loads(&self) -> &[i64] {
        // SAFETY: N entries, owned by the plan.
        unsafe { slice(self.view.expert_loads, self.view.num_experts) }
    }

    /// `[T*N]`: the selection scores (U, or f_t when alpha = 0), when the
    /// router's config set `keep_scores`.
    pub fn scores(&self) -> Option<&[f32]> {
        if self.view.scores.is_null() {
            return None;
        }
        let n = self.view.num_tokens.saturating_mul(self.view.num_experts);
        // SAFETY: T*N scores, owned by the plan.
        Some(unsafe { slice(self.view.scores, n) })
    }

    /// The per-token view, when the router's config set `token_view`.
    pub fn token_view(&self) -> Option<TokenView<'_>> {
        let v = &self.view;
        if v.token_offsets.is_null() {
            return None;
        }
        // SAFETY: T+1 offsets and c experts and weights, owned by the plan.
        unsafe {
            Some(TokenView {
                offsets: slice(v.token_offsets, v.num_tokens + 1),
                experts: slice(v.token_experts, v.num_selected),
                weights: slice(v.token_weights, v.num_selected),
            })
        }
    }

    /// The tokens of expert `e` and their gate weights.
    ///
    /// # Panics
    /// If `e >= N`.
    pub fn expert(&self, e: usize) -> (&[i64], &[f32]) {
        let off = self.expert_offsets();
        assert!(
            e + 1 < off.len(),
            "expert {e} out of range (N = {})",
            self.num_experts()
        );
        let (a, b) = (off[e] as usize, off[e + 1] as usize);
        (&self.token_ids()[a..b], &self.weights()[a..b])
    }

    /// The T×N selection mask, row-major: `mask[t*N + e]` is true when
    /// token t was routed to expert e.
    pub fn mask(&self) -> Vec<bool> {
        let (t, n) = (self.num_tokens(), self.num_experts());
        let mut m = vec![false; t * n];
        let off = self.expert_offsets();
        let ids = self.token_ids();
        for e in 0..n {
            for &tok in &ids[off[e] as usize..off[e + 1] as usize] {
                m[tok as usize * n + e] = true;
            }
        }
        m
    }

    /// The gate weights as a dense T×N row-major matrix (0 where not selected).
    pub fn dense_weights(&self) -> Vec<f32> {
        let (t, n) = (self.num_tokens(), self.num_experts());
        let mut m = vec![0.0f32; t * n];
        let off = self.expert_offsets();
        let (ids, w) = (self.token_ids(), self.weights());
        for e in 0..n {
            for i in off[e] as usize..off[e + 1] as usize {
                m[ids[i] as usize * n + e] = w[i];
            }
        }
        m
    }
}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: the handle is live and owned by self; destroyed once.
        unsafe { sys::usmoe_plan_destroy(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("num_tokens", &self.num_tokens())
            .field("num_experts", &self.num_experts())
            .field("num_selected", &self.num_selected())
            .field("expert_loads", &self.expert_loads())
            .finish()
    }
}

/// The per-token view of a [`Plan`]: token t owns entries
/// `offsets[t] .. offsets[t+1]` of `experts` (ascending) and `weights`.
#[derive(Clone, Copy, Debug)]
pub struct TokenView<'a> {
    /// `[T+1]`.
    pub offsets: &'a [i64],
    /// `[c]`: expert of each entry, ascending within each token.
    pub experts: &'a [i64],
    /// `[c]`: gate weight of each entry.
    pub weights: &'a [f32],
}

impl<'a> TokenView<'a> {
    /// Number of tokens T.
    pub fn num_tokens(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The experts of token `t` and their gate weights.
    ///
    /// # Panics
    /// If `t >= T`.
    pub fn token(&self, t: usize) -> (&'a [i64], &'a [f32]) {
        assert!(
            t + 1 < self.offsets.len(),
            "token {t} out of range (T = {})",
            self.num_tokens()
        );
        let (a, b) = (self.offsets[t] as usize, self.offsets[t + 1] as usize);
        (&self.experts[a..b], &self.weights[a..b])
    }
}
