"""The stages of routing one at a time, threads and SIMD target control.

These call the kernel-level entry points of the C ABI (``usmoe_logits``,
``usmoe_scores``, ``usmoe_topk_rows``, ``usmoe_topc_cols``,
``usmoe_topc_global``) with the same checks and tie rules as
``Router.route``: higher score first; equal scores, lower flat index
(``t*N + e``) first.
"""

import ctypes

import numpy as np

from . import _arrays as A
from ._capi import DTYPE_BF16, DTYPE_F32, check, lib
from ._errors import Error
from .routing import EXPERT_SCORES

__all__ = ["logits", "scores", "topk_rows", "topc_cols", "topc_global",
           "set_num_threads", "get_num_threads", "supported_targets",
           "set_simd_targets", "simd_target_name", "target_bits"]

_i64 = ctypes.c_int64
_f32 = ctypes.c_float


def logits(x, w, out=None):
    """Router logits ``L = x @ w.T``, (T, N) float32, accumulated in float32.

    Args:
        x: (T, d) and w: (N, d), both float32, or both uint16 bf16 bit
            patterns (the dtype of x selects the C dtype).
        out: optional (T, N) float32 C-contiguous array to write into.

    Raises usmoe.Error on dtype/shape mismatch or NaN/Inf in x or w.
    """
    if isinstance(x, np.ndarray) and x.dtype == np.uint16:
        dt, st = DTYPE_BF16, np.dtype(np.uint16)
    else:
        dt, st = DTYPE_F32, np.dtype(np.float32)
    xa = A.check_input("x", x, st, (None, None))
    T, d = (int(s) for s in xa.shape)
    wa = A.check_input("w", w, st, (None, d))
    N = int(wa.shape[0])
    y = A.check_output("out", out, np.float32, (T, N))
    check(lib.usmoe_logits(A.vptr(xa), A.vptr(wa), dt, T, N, d, A.ptr(y, _f32)))
    return y


def scores(logits, alpha=0.5, expert_score="sigmoid", group_sizes=None, valid=None,
           out=None):
    """Unified scores ``U = (1-alpha)*softmax_experts(L) + alpha*f_e(L)``, (T, N) float32.

    Args:
        logits: (T, N) float32.
        alpha: in [0, 1] (0: plain softmax over experts).
        expert_score: ``"sigmoid"`` (``sigmoid(L)*2/N``) or
            ``"softmax_tokens"`` (softmax of each column over the group's
            valid tokens).
        group_sizes, valid: as in ``Router.route``; they only matter for
            ``"softmax_tokens"``, where padding rows get
            ``U = (1-alpha)*f_t``.
        out: optional (T, N) float32 C-contiguous array to write into.
    """
    la = A.check_input("logits", logits, np.float32, (None, None))
    T, N = (int(s) for s in la.shape)
    es = A.parse_enum("expert_score", expert_score, EXPERT_SCORES)
    g, G = A.check_groups(group_sizes)
    v = A.check_valid(valid, T)
    y = A.check_output("out", out, np.float32, (T, N))
    check(lib.usmoe_scores(A.ptr(la, _f32), T, N, A.as_float("alpha", alpha), es,
                           A.ptr(g, _i64), G, A.ptr(v, ctypes.c_uint8), A.ptr(y, _f32)))
    return y


def topk_rows(scores, k):
    """Per row of a (T, N) float32 matrix, the k largest cells.

    Returns ``(expert_ids, values)``, each (T, k) (int64, float32), in
    descending order of score; equal scores: lower expert first. k in [1, N].
    NaN: usmoe.Error (non-finite input).
    """
    sa = A.check_input("scores", scores, np.float32, (None, None))
    T, N = (int(s) for s in sa.shape)
    k = A.as_int("k", k)
    kk = max(k, 0)
    ids = np.empty((T, kk), dtype=np.int64)
    vals = np.empty((T, kk), dtype=np.float32)
    check(lib.usmoe_topk_rows(A.ptr(sa, _f32), T, N, k, A.ptr(ids, _i64), A.ptr(vals, _f32)))
    return ids, vals


def topc_cols(scores, capacity):
    """Per column of a (T, N) float32 matrix, the `capacity` largest cells.

    Returns ``(token_ids, values)``, each (N, capacity) (int64, float32): row
    e lists expert e's tokens in descending order of score; equal scores:
    lower token first. capacity in [1, T].
    """
    sa = A.check_input("scores", scores, np.float32, (None, None))
    T, N = (int(s) for s in sa.shape)
    C = A.as_int("capacity", capacity)
    cc = max(C, 0)
    ids = np.empty((N, cc), dtype=np.int64)
    vals = np.empty((N, cc), dtype=np.float32)
    check(lib.usmoe_topc_cols(A.ptr(sa, _f32), T, N, C, A.ptr(ids, _i64), A.ptr(vals, _f32)))
    return ids, vals


def topc_global(values, c):
    """Flat indices of the c largest entries of a float32 array (any shape,
    read in C order), in ascending index order. Equal values: lower index
    first; -0.0 equals +0.0; ±Inf allowed; NaN is an error. c in [0, size].
    """
    if isinstance(values, np.ndarray) and values.ndim != 1:
        values = values.reshape(-1) if values.dtype == np.float32 else values
    va = A.check_input("values", values, np.float32, (None,))
    n = int(va.shape[0])
    c = A.as_int("c", c)
    cap = max(c, 0)
    idx = np.empty(cap, dtype=np.int64)
    # A size-0 output still needs a valid pointer for the C call.
    buf = idx if cap else np.empty(1, dtype=np.int64)
    check(lib.usmoe_topc_global(A.ptr(va, _f32), n, c, A.ptr(buf, _i64), cap))
    return idx


def set_num_threads(n):
    """Sets the OpenMP thread count of usmoe's parallel regions for the whole
    process; 0 restores OpenMP's default (OMP_NUM_THREADS). n in [0, 4096]."""
    check(lib.usmoe_set_num_threads(A.as_int("n", n)))


def get_num_threads():
    """The number of threads usmoe will use now (>= 1)."""
    n = ctypes.c_int32()
    check(lib.usmoe_get_num_threads(ctypes.byref(n)))
    return int(n.value)


def supported_targets():
    """Bit mask (Highway HWY_* target bits) of the SIMD targets this CPU
    supports and this build of libusmoe compiled."""
    m = ctypes.c_int64()
    check(lib.usmoe_simd_supported_targets(ctypes.byref(m)))
    return int(m.value)


def target_bits(mask=None):
    """The single-bit masks set in `mask` (default: supported_targets()),
    lowest first; each can be passed to set_simd_targets to force one target."""
    if mask is None:
        mask = supported_targets()
    return [1 << i for i in range(64) if (mask >> i) & 1]


def set_simd_targets(mask):
    """Restricts kernel dispatch to the targets in `mask` (one bit forces one
    target); 0 restores the default (the best target). Process-wide; do not
    call while other threads are inside usmoe. A mask with no supported bit:
    usmoe.Error."""
    mask = A.as_int("mask", mask)
    if not -(1 << 63) <= mask < (1 << 64):
        raise Error(f"mask = {mask}: does not fit in 64 bits")
    if mask >= (1 << 63):
        mask -= 1 << 64
    check(lib.usmoe_simd_set_targets(mask))


def simd_target_name():
    """The name of the SIMD target the kernels dispatch to now, e.g. "AVX2"."""
    p = ctypes.c_char_p()
    check(lib.usmoe_simd_target_name(ctypes.byref(p)))
    return p.value.decode("ascii", "replace") if p.value is not None else ""
