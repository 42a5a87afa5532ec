//! The stages of routing as free functions, for composition and
//! benchmarking: [`logits`], [`scores`], [`topk_rows`], [`topc_cols`],
//! [`topc_global`]. Same checks and tie rules as [`Router::route`](crate::Router::route).
//!
//! Slice lengths must equal the sizes given (checked here); everything else
//! (sizes ≥ 1, k and C ranges, NaN/Inf, group sizes) is checked by the library.
use std::ffi::c_void;

use crate::error::check;
use crate::{check_len, mul, opt_ptr, sys, to_i64};
use crate::{Element, ExpertScore, Result};

/// Logits `L = X Wᵀ` (T×N f32) of `x` (T×d) and `w` (N×d), both f32 or
/// both bf16, accumulated in f32.
///
/// ```
/// let x = [1.0f32, 2.0];          // T = 1, d = 2
/// let w = [1.0f32, 0.0, 0.0, 1.0]; // N = 2
/// let mut l = [0.0f32; 2];
/// usmoe::logits(&x, &w, 1, 2, 2, &mut l)?;
/// assert_eq!(l, [1.0, 2.0]);
/// # Ok::<(), usmoe::Error>(())
/// ```
pub fn logits<E: Element>(
    x: &[E],
    w: &[E],
    num_tokens: usize,
    num_experts: usize,
    dim: usize,
    logits: &mut [f32],
) -> Result<()> {
    check_len(
        "x",
        x.len(),
        mul(num_tokens, dim, "num_tokens*dim")?,
        "num_tokens*dim",
    )?;
    check_len(
        "w",
        w.len(),
        mul(num_experts, dim, "num_experts*dim")?,
        "num_experts*dim",
    )?;
    let tn = mul(num_tokens, num_experts, "num_tokens*num_experts")?;
    check_len("logits", logits.len(), tn, "num_tokens*num_experts")?;
    // SAFETY: lengths checked above; x, w of E::DTYPE.
    check(unsafe {
        sys::usmoe_logits(
            x.as_ptr() as *const c_void,
            w.as_ptr() as *const c_void,
            E::DTYPE.to_c(),
            to_i64(num_tokens, "num_tokens")?,
            to_i64(num_experts, "num_experts")?,
            to_i64(dim, "dim")?,
            logits.as_mut_ptr(),
        )
    })
}

/// Scores `U = (1-alpha)·softmax_experts(L) + alpha·f_e(L)` (T×N f32) of
/// the logits `l` (T×N). `group_sizes` and `valid` as in
/// [`Router::route`](crate::Router::route); they matter only for
/// [`ExpertScore::SoftmaxTokens`] (padding rows get `(1-alpha)·f_t`).
#[allow(clippy::too_many_arguments)]
pub fn scores(
    l: &[f32],
    num_tokens: usize,
    num_experts: usize,
    alpha: f64,
    expert_score: ExpertScore,
    group_sizes: Option<&[i64]>,
    valid: Option<&[u8]>,
    scores: &mut [f32],
) -> Result<()> {
    let tn = mul(num_tokens, num_experts, "num_tokens*num_experts")?;
    check_len("logits", l.len(), tn, "num_tokens*num_experts")?;
    check_len("scores", scores.len(), tn, "num_tokens*num_experts")?;
    if let Some(v) = valid {
        check_len("valid", v.len(), num_tokens, "num_tokens")?;
    }
    let num_groups = to_i64(group_sizes.map_or(0, <[i64]>::len), "num_groups")?;
    // SAFETY: lengths checked above; group_sizes holds num_groups values.
    check(unsafe {
        sys::usmoe_scores(
            l.as_ptr(),
            to_i64(num_tokens, "num_tokens")?,
            to_i64(num_experts, "num_experts")?,
            alpha,
            expert_score.to_c(),
            opt_ptr(group_sizes),
            num_groups,
            opt_ptr(valid),
            scores.as_mut_ptr(),
        )
    })
}

/// Row top-k of a T×N matrix: for each row, the k largest cells in
/// descending order (equal scores: lower expert first), into
/// `expert_ids[T*k]` and `values[T*k]`. k in [1, N].
///
/// ```
/// let s = [0.1f32, 0.5, 0.5, 0.2]; // T = 1, N = 4
/// let (mut ids, mut v) = ([0i64; 2], [0.0f32; 2]);
/// usmoe::topk_rows(&s, 1, 4, 2, &mut ids, &mut v)?;
/// assert_eq!(ids, [1, 2]); // the tie goes to the lower expert first
/// # Ok::<(), usmoe::Error>(())
/// ```
pub fn topk_rows(
    s: &[f32],
    num_tokens: usize,
    num_experts: usize,
    k: usize,
    expert_ids: &mut [i64],
    values: &mut [f32],
) -> Result<()> {
    let tn = mul(num_tokens, num_experts, "num_tokens*num_experts")?;
    check_len("scores", s.len(), tn, "num_tokens*num_experts")?;
    let tk = mul(num_tokens, k, "num_tokens*k")?;
    check_len("expert_ids", expert_ids.len(), tk, "num_tokens*k")?;
    check_len("values", values.len(), tk, "num_tokens*k")?;
    // SAFETY: lengths checked above.
    check(unsafe {
        sys::usmoe_topk_rows(
            s.as_ptr(),
            to_i64(num_tokens, "num_tokens")?,
            to_i64(num_experts, "num_experts")?,
            to_i64(k, "k")?,
            expert_ids.as_mut_ptr(),
            values.as_mut_ptr(),
        )
    })
}

/// Column top-C of a T×N matrix: for each column (expert), the C largest
/// cells in descending order (equal scores: lower token first), into
/// `token_ids[N*C]` and `values[N*C]` (row e holds expert e's tokens).
/// C in [1, T].
pub fn topc_cols(
    s: &[f32],
    num_tokens: usize,
    num_experts: usize,
    capacity: usize,
    token_ids: &mut [i64],
    values: &mut [f32],
) -> Result<()> {
    let tn = mul(num_tokens, num_experts, "num_tokens*num_experts")?;
    check_len("scores", s.len(), tn, "num_tokens*num_experts")?;
    let nc = mul(num_experts, capacity, "num_experts*capacity")?;
    check_len("token_ids", token_ids.len(), nc, "num_experts*capacity")?;
    check_len("values", values.len(), nc, "num_experts*capacity")?;
    // SAFETY: lengths checked above.
    check(unsafe {
        sys::usmoe_topc_cols(
            s.as_ptr(),
            to_i64(num_tokens, "num_tokens")?,
            to_i64(num_experts, "num_experts")?,
            to_i64(capacity, "capacity")?,
            token_ids.as_mut_ptr(),
            values.as_mut_ptr(),
        )
    })
}

/// Global top-c of `values`: the flat indices of the c largest values
/// (equal values: lower index first; -0.0 equals +0.0), written in ascending
/// index order to `indices[..c]`. c in [0, n]; `±Inf` allowed, NaN rejected.
/// `indices` shorter than c is a [`BufferTooSmall`](crate::ErrorKind::BufferTooSmall)
/// error from the library.
///
/// ```
/// let v = [0.3f32, 0.9, 0.1, 0.9];
/// let mut idx = [0i64; 2];
/// usmoe::topc_global(&v, 2, &mut idx)?;
/// assert_eq!(idx, [1, 3]);
/// # Ok::<(), usmoe::Error>(())
/// ```
pub fn topc_global(values: &[f32], c: usize, indices: &mut [i64]) -> Result<()> {
    // SAFETY: values holds n floats; indices holds indices.len() slots,
    // passed as the capacity.
    check(unsafe {
        sys::usmoe_topc_global(
            values.as_ptr(),
            to_i64(values.len(), "n")?,
            to_i64(c, "c")?,
            indices.as_mut_ptr(),
            to_i64(indices.len(), "indices_capacity")?,
        )
    })
}
