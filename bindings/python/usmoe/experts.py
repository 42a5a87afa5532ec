"""Experts: the FFNs of an MoE layer, run on a routing Plan (grouped GEMM)."""

import ctypes
import weakref

import numpy as np

from . import _arrays as A
from ._capi import (
    ACTIVATION_GELU_ERF, ACTIVATION_GELU_TANH, ACTIVATION_RELU, ACTIVATION_SWIGLU,
    BACKEND_AUTO, BACKEND_HIGHWAY, BACKEND_ONEDNN, ExpertsConfig, check, lib)
from ._errors import Error
from ._lifetime import OwnedHandle
from .routing import Plan

__all__ = ["Experts"]

ACTIVATIONS = {
    "swiglu": ACTIVATION_SWIGLU,
    "gelu_tanh": ACTIVATION_GELU_TANH,
    "gelu_erf": ACTIVATION_GELU_ERF,
    "relu": ACTIVATION_RELU,
}

BACKENDS = {
    "auto": BACKEND_AUTO,
    "highway": BACKEND_HIGHWAY,
    "onednn": BACKEND_ONEDNN,
}


class Experts(OwnedHandle):
    """The routed (and optional shared) experts of an MoE layer.

    Each routed expert e is an FFN:
    ``"swiglu"``: ``W2_e (silu(W1_e x) * (W3_e x))``;
    ``"gelu_tanh"`` / ``"gelu_erf"`` / ``"relu"``: ``W2_e act(W1_e x)`` (no W3).

    Args:
        w1: (N, f, d) up/gate projections.
        w3: (N, f, d) for ``"swiglu"``; must be None for the other activations.
        w2: (N, d, f) down projections.
        activation: ``"swiglu"``, ``"gelu_tanh"``, ``"gelu_erf"`` or ``"relu"``.
        shared_w1, shared_w3, shared_w2: S shared experts applied densely to
            every token, shapes (S, fs, d), (S, fs, d), (S, d, fs); all None
            for none (shared_w3 None unless "swiglu").
        dtype: ``"float32"`` or ``"bfloat16"`` (weights as uint16 bf16 bit
            patterns, see ``usmoe.to_bfloat16``). Activations are float32
            either way; accumulation is float32.
        backend: the GEMM backend, fixed at creation: ``"highway"`` (the
            portable kernels, every build), ``"onednn"`` (oneDNN matmul;
            with bfloat16 weights it rounds activations to bfloat16 before
            each GEMM) or ``"auto"`` (Highway, except bfloat16 weights on a CPU
            without AVX512_BF16, which get oneDNN where built in; see usmoe.h). ``"onednn"`` in a build without oneDNN
            raises ``usmoe.Error`` with status ``STATUS_UNSUPPORTED``.

    The weights are copied and packed at creation. Release the C object
    with ``close()``, a ``with`` block, or by dropping the last reference.
    """

    _what = "experts object"

    def __init__(self, w1, w3, w2, activation="swiglu", shared_w1=None, shared_w3=None,
                 shared_w2=None, dtype="float32", backend="auto"):
        self._finalizer = None
        act = A.parse_enum("activation", activation, ACTIVATIONS)
        be = A.parse_enum("backend", backend, BACKENDS)
        dt = A.parse_dtype(dtype)
        st = A.storage_dtype(dt)
        gated = act == ACTIVATION_SWIGLU
        w1a = A.check_input("w1", w1, st, (None, None, None))
        N, f, d = (int(s) for s in w1a.shape)
        if gated:
            if w3 is None:
                raise Error("w3: required for activation 'swiglu' (shape (N, f, d))")
            w3a = A.check_input("w3", w3, st, (N, f, d))
        else:
            if w3 is not None:
                raise Error(f"w3: must be None for activation {activation!r} "
                            "(only 'swiglu' has a W3)")
            w3a = None
        w2a = A.check_input("w2", w2, st, (N, d, f))
        shared = (shared_w1, shared_w3, shared_w2)
        S = fs = 0
        sw1 = sw3 = sw2 = None
        if any(s is not None for s in shared):
            if shared_w1 is None or shared_w2 is None:
                raise Error("shared_w1 and shared_w2: give both (or neither) for shared "
                            "experts")
            sw1 = A.check_input("shared_w1", shared_w1, st, (None, None, d))
            S, fs = int(sw1.shape[0]), int(sw1.shape[1])
            if gated:
                if shared_w3 is None:
                    raise Error("shared_w3: required with shared experts for activation "
                                "'swiglu'")
                sw3 = A.check_input("shared_w3", shared_w3, st, (S, fs, d))
            elif shared_w3 is not None:
                raise Error(f"shared_w3: must be None for activation {activation!r}")
            sw2 = A.check_input("shared_w2", shared_w2, st, (S, d, fs))
        cfg = ExpertsConfig()
        check(lib.usmoe_experts_config_init(ctypes.byref(cfg)))
        cfg.num_experts, cfg.dim, cfg.hidden = N, d, f
        cfg.activation, cfg.dtype = act, dt
        cfg.num_shared, cfg.shared_hidden = S, fs
        cfg.backend = be
        handle = ctypes.c_void_p()
        check(lib.usmoe_experts_create(ctypes.byref(cfg), A.vptr(w1a), A.vptr(w3a),
                                       A.vptr(w2a), A.vptr(sw1), A.vptr(sw3), A.vptr(sw2),
                                       ctypes.byref(handle)))
        self._handle = handle
        self._finalizer = weakref.finalize(self, lib.usmoe_experts_destroy, handle.value)
        self._N, self._d, self._f, self._S, self._fs = N, d, f, S, fs
        self._activation = activation
        self._backend = backend

    # Lifetime (close, closed, with): OwnedHandle.

    @property
    def num_experts(self):
        """N, the number of routed experts."""
        return self._N

    @property
    def dim(self):
        """d, the model dimension."""
        return self._d

    @property
    def hidden(self):
        """f, the intermediate size of a routed expert."""
        return self._f

    @property
    def num_shared(self):
        """S, the number of shared experts."""
        return self._S

    @property
    def activation(self):
        """The activation name."""
        return self._activation

    @property
    def backend(self):
        """The backend requested at creation (``"auto"``, ``"highway"``, ``"onednn"``)."""
        return self._backend

    def forward(self, x, plan, out=None):
        """Runs the experts: ``y_t = sum_{e in sel(t)} w_te FFN_e(x_t) + sum_s FFN_s(x_t)``.

        Args:
            x: (T, d) float32 tokens (float32 also for bf16 weights).
            plan: a ``Plan`` from ``Router.route`` with the same T and N, not
                closed.
            out: optional (T, d) float32 C-contiguous array to write into
                (must not overlap x); a new array is returned otherwise.

        Returns:
            (T, d) float32 output. A token with no expert and no shared expert
            gets zeros.

        Raises:
            usmoe.Error: bad x/out, a closed plan, a plan of another T or N,
                NaN/Inf in x.
        """
        handle = self._live_handle()
        if not isinstance(plan, Plan):
            raise Error(f"plan: expected a usmoe.Plan, got {type(plan).__name__}")
        ph = plan._live_handle()
        xa = A.check_input("x", x, np.float32, (None, self._d))
        T = int(xa.shape[0])
        y = A.check_output("out", out, np.float32, (T, self._d))
        check(lib.usmoe_experts_forward(handle, A.ptr(xa, ctypes.c_float), T, ph,
                                        A.ptr(y, ctypes.c_float)))
        return y

    __call__ = forward

    def __repr__(self):
        state = " closed" if self.closed else ""
        return (f"<usmoe.Experts{state} experts={self._N} dim={self._d} hidden={self._f} "
                f"activation={self._activation} shared={self._S} backend={self._backend}>")
