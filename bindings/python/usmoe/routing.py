"""Router and Plan: routing tokens to experts (TC, EC and the unified USMoE)."""

import ctypes
import weakref

import numpy as np

from . import _arrays as A
from ._capi import (
    EXPERT_SCORE_SIGMOID, EXPERT_SCORE_SOFTMAX_TOKENS, GATE_NORM_ALL, GATE_NORM_NONE,
    GATE_NORM_SELECTED, POLICY_EXPERT_CHOICE, POLICY_TOKEN_CHOICE, POLICY_UNIFIED,
    PlanView, RouterConfig, check, lib)
from ._errors import Error
from ._lifetime import OwnedHandle

__all__ = ["Router", "Plan"]

POLICIES = {
    "unified": POLICY_UNIFIED,
    "token_choice": POLICY_TOKEN_CHOICE,
    "expert_choice": POLICY_EXPERT_CHOICE,
}
EXPERT_SCORES = {
    "sigmoid": EXPERT_SCORE_SIGMOID,
    "softmax_tokens": EXPERT_SCORE_SOFTMAX_TOKENS,
}
GATE_NORMS = {
    "none": GATE_NORM_NONE,
    "selected": GATE_NORM_SELECTED,
    "all": GATE_NORM_ALL,
}
_NAMES = {
    "policy": {v: k for k, v in POLICIES.items()},
    "expert_score": {v: k for k, v in EXPERT_SCORES.items()},
    "gate_norm": {v: k for k, v in GATE_NORMS.items()},
    "dtype": {0: "float32", 1: "bfloat16"},
}


class Plan(OwnedHandle):
    """The result of one ``Router.route`` call: which tokens go to which experts.

    The plan is grouped by expert: expert ``e`` owns the entries
    ``expert_offsets[e]:expert_offsets[e+1]`` of ``token_ids`` (ascending) and
    ``weights`` (its gate values).

    Memory: every array property is a NumPy array that **owns its memory**
    (copied out of the C plan once, when the plan is made) and is read-only.
    The arrays stay valid after ``close()``, after later ``route`` calls, and
    after the Plan is garbage-collected.

    The Plan also holds a C ``usmoe_plan`` handle, used by
    ``Experts.forward``. Each ``Router.route`` call creates a new handle, so
    earlier plans are never overwritten. Release it with ``close()`` or a
    ``with`` block; otherwise it is released when the Plan is
    garbage-collected. After ``close()`` the arrays remain readable, but the
    plan can no longer be passed to ``Experts.forward``.

    Properties:
        num_tokens (T), num_experts (N), num_selected (c);
        expert_offsets: (N+1,) int64;
        token_ids: (c,) int64, ascending within each expert;
        weights: (c,) float32, the gate weight of each entry;
        expert_ids: (c,) int64, the expert of each entry (derived);
        token_counts: (T,) int64, experts per token (0..N);
        expert_loads: (N,) int64, tokens per expert;
        scores: (T, N) float32 selection scores, or None unless the router
            was made with ``keep_scores=True``;
        token_offsets (T+1,), token_experts (c,), token_weights (c,): the
            per-token view (token t owns entries
            ``token_offsets[t]:token_offsets[t+1]``, experts ascending), or
            None unless the router was made with ``token_view=True``.
    """

    _what = "plan"

    def __init__(self, handle):
        # Private: plans are made by Router.route.
        self._handle = ctypes.c_void_p(handle)
        self._finalizer = weakref.finalize(self, lib.usmoe_plan_destroy, handle)
        view = PlanView()
        view.struct_size = ctypes.sizeof(PlanView)
        check(lib.usmoe_plan_get_view(self._handle, ctypes.byref(view)))
        T, N, c = int(view.num_tokens), int(view.num_experts), int(view.num_selected)
        self._T, self._N, self._c = T, N, c
        i64, f32 = np.int64, np.float32
        self._expert_offsets = A.copy_out(view.expert_offsets, N + 1, i64)
        self._token_ids = A.copy_out(view.token_ids, c, i64)
        self._weights = A.copy_out(view.weights, c, f32)
        self._token_counts = A.copy_out(view.token_counts, T, i64)
        self._expert_loads = A.copy_out(view.expert_loads, N, i64)
        self._scores = None
        if view.scores:
            self._scores = A.copy_out(view.scores, T * N, f32).reshape(T, N)
        self._token_offsets = self._token_experts = self._token_weights = None
        if view.token_offsets:
            self._token_offsets = A.copy_out(view.token_offsets, T + 1, i64)
            self._token_experts = A.copy_out(view.token_experts, c, i64)
            self._token_weights = A.copy_out(view.token_weights, c, f32)
        for a in (self._expert_offsets, self._token_ids, self._weights, self._token_counts,
                  self._expert_loads, self._scores, self._token_offsets,
                  self._token_experts, self._token_weights):
            if a is not None:
                a.flags.writeable = False

    # Lifetime: OwnedHandle. close() releases the C plan; the arrays stay valid.

    # -- sizes
    @property
    def num_tokens(self):
        """T, the number of tokens routed."""
        return self._T

    @property
    def num_experts(self):
        """N, the number of experts."""
        return self._N

    @property
    def num_selected(self):
        """c, the number of selected (token, expert) cells."""
        return self._c

    # -- expert-grouped arrays
    @property
    def expert_offsets(self):
        """(N+1,) int64: expert e owns entries expert_offsets[e]:expert_offsets[e+1]."""
        return self._expert_offsets

    @property
    def token_ids(self):
        """(c,) int64: the token of each entry, ascending within each expert."""
        return self._token_ids

    @property
    def weights(self):
        """(c,) float32: the gate weight of each entry."""
        return self._weights

    @property
    def expert_ids(self):
        """(c,) int64: the expert of each entry (a new array on each access)."""
        return np.repeat(np.arange(self._N, dtype=np.int64), self._expert_loads)

    @property
    def token_counts(self):
        """(T,) int64: the number of experts selected for each token."""
        return self._token_counts

    @property
    def expert_loads(self):
        """(N,) int64: the number of tokens selected by each expert."""
        return self._expert_loads

    @property
    def scores(self):
        """(T, N) float32 selection scores, or None (router keep_scores=False)."""
        return self._scores

    # -- per-token view
    @property
    def token_offsets(self):
        """(T+1,) int64 offsets of the per-token view, or None (token_view=False)."""
        return self._token_offsets

    @property
    def token_experts(self):
        """(c,) int64 experts of the per-token view (ascending per token), or None."""
        return self._token_experts

    @property
    def token_weights(self):
        """(c,) float32 gate weights of the per-token view, or None."""
        return self._token_weights

    @property
    def token_view(self):
        """(token_offsets, token_experts, token_weights), or None when the router
        was made without token_view=True."""
        if self._token_offsets is None:
            return None
        return (self._token_offsets, self._token_experts, self._token_weights)

    # -- dense forms
    def mask(self):
        """(T, N) bool: True where token t was routed to expert e (a new array)."""
        m = np.zeros((self._T, self._N), dtype=bool)
        m[self._token_ids, self.expert_ids] = True
        return m

    def dense_weights(self):
        """(T, N) float32 gate weights, 0 where a cell is not selected (a new array)."""
        w = np.zeros((self._T, self._N), dtype=np.float32)
        w[self._token_ids, self.expert_ids] = self._weights
        return w

    def __repr__(self):
        state = ", closed" if self.closed else ""
        return (f"<usmoe.Plan tokens={self._T} experts={self._N} "
                f"selected={self._c}{state}>")


class Router(OwnedHandle):
    """A router: gate weights plus a routing policy.

    Args:
        gate_weight: (N, d) router weight W (no bias); float32, or uint16
            bf16 bit patterns when ``dtype="bfloat16"`` (see
            ``usmoe.to_bfloat16``). Copied and packed at creation; the array
            can be modified or freed afterwards.
        policy: ``"unified"`` (USMoE: per group, the global top-c cells of
            the T×N score matrix, ``c = min(T_valid*N, floor(k*T_valid+0.5))``;
            a token may get 0..N experts), ``"token_choice"`` (each token its
            top-k experts; k must be an integer in [1, N]) or
            ``"expert_choice"`` (each expert its top-C tokens,
            ``C = min(T_valid, ceil(capacity_factor*k*T_valid/N))``).
        k: experts per token (on average for unified; fractional allowed there).
        alpha: weight of the expert-side score in the unified score
            ``U = (1-alpha)*softmax_experts(L) + alpha*f_e(L)``, in [0, 1].
            None takes the C library's default for the policy
            (``usmoe_router_config_init``): 0.5 for unified, 0.0 otherwise.
        expert_score: f_e, ``"sigmoid"`` (``sigmoid(L)*2/N``, causal, the
            default) or ``"softmax_tokens"`` (softmax of each column over the
            group's valid tokens).
        gate_norm: ``"none"`` (gate = selected score), ``"selected"``
            (divided by the sum over the token's selected experts) or
            ``"all"`` (divided by the token's score sum over all N experts).
        capacity_factor: expert_choice only; > 0.
        dtype: ``"float32"`` or ``"bfloat16"``: of gate_weight and of the x
            given to ``route``.
        keep_scores: the plans keep the (T, N) selection scores.
        token_view: the plans also carry the per-token view.

    Raises usmoe.Error for any bad argument, with the C library's message
    when the C library rejects it (e.g. a fractional k under token_choice, or
    NaN in gate_weight).

    Decoding note: with ``"unified"`` a token's experts may depend on later
    tokens of its group. For autoregressive decoding with T = 1 per group,
    unified routing is the per-token top-k of U.

    A Router is read-only after creation and may be used from several threads
    at once (each ``route`` makes its own plan). Release it with ``close()``,
    a ``with`` block, or by dropping the last reference.
    """

    _what = "router"

    def __init__(self, gate_weight, policy="unified", k=8.0, alpha=None,
                 expert_score="sigmoid", gate_norm="none", capacity_factor=1.0,
                 dtype="float32", keep_scores=False, token_view=False):
        self._finalizer = None
        pol = A.parse_enum("policy", policy, POLICIES)
        dt = A.parse_dtype(dtype)
        cfg = RouterConfig()
        check(lib.usmoe_router_config_init(ctypes.byref(cfg), pol))
        w = A.check_input("gate_weight", gate_weight, A.storage_dtype(dt), (None, None))
        cfg.num_experts, cfg.dim = int(w.shape[0]), int(w.shape[1])
        cfg.dtype = dt
        cfg.k = A.as_float("k", k)
        if alpha is not None:
            cfg.alpha = A.as_float("alpha", alpha)
        cfg.expert_score = A.parse_enum("expert_score", expert_score, EXPERT_SCORES)
        cfg.gate_norm = A.parse_enum("gate_norm", gate_norm, GATE_NORMS)
        cfg.capacity_factor = A.as_float("capacity_factor", capacity_factor)
        cfg.keep_scores = 1 if keep_scores else 0
        cfg.token_view = 1 if token_view else 0
        handle = ctypes.c_void_p()
        check(lib.usmoe_router_create(ctypes.byref(cfg), A.vptr(w), ctypes.byref(handle)))
        self._handle = handle
        self._finalizer = weakref.finalize(self, lib.usmoe_router_destroy, handle.value)
        self._cfg = cfg
        self._storage = A.storage_dtype(dt)

    # Lifetime: OwnedHandle. close() releases the C router; plans already made
    # stay valid.

    # -- configuration
    @property
    def config(self):
        """The C configuration (``usmoe_router_get_config``) as a dict, with
        enum fields as the strings accepted by the constructor."""
        cfg = RouterConfig()
        cfg.struct_size = ctypes.sizeof(RouterConfig)
        check(lib.usmoe_router_get_config(self._live_handle(), ctypes.byref(cfg)))
        d = {name: getattr(cfg, name) for name, _ in RouterConfig._fields_}
        del d["struct_size"]
        for key in ("policy", "expert_score", "gate_norm", "dtype"):
            d[key] = _NAMES[key].get(d[key], d[key])
        d["keep_scores"] = bool(d["keep_scores"])
        d["token_view"] = bool(d["token_view"])
        return d

    @property
    def num_experts(self):
        """N, the number of experts."""
        return int(self._cfg.num_experts)

    @property
    def dim(self):
        """d, the model dimension."""
        return int(self._cfg.dim)

    @property
    def policy(self):
        """The policy name."""
        return _NAMES["policy"][self._cfg.policy]

    @property
    def k(self):
        """Experts per token (average, for unified)."""
        return float(self._cfg.k)

    @property
    def alpha(self):
        """The unified-score mixing weight actually used."""
        return float(self._cfg.alpha)

    # -- routing
    def route(self, x, group_sizes=None, valid=None):
        """Routes a batch of tokens; returns a new Plan.

        Args:
            x: (T, d) tokens, float32 (uint16 bf16 bit patterns for a
                bfloat16 router). T >= 1.
            group_sizes: None (one group of all T tokens) or a 1-D sequence of
                G sizes >= 0 summing to T (groups may be empty). Selection
                never crosses a group boundary.
            valid: None (all valid) or a (T,) bool/integer mask, False/0 for
                padding. Padding tokens get no expert and count neither in the
                budget nor in the softmax over tokens.

        Returns:
            A new ``Plan`` (earlier plans are left untouched).

        Raises:
            usmoe.Error: bad shapes/dtypes, bad groups, NaN/Inf in x or in the
                logits (the message names the first token and feature/expert).
        """
        h = self._live_handle()
        xa = A.check_input("x", x, self._storage, (None, self.dim))
        T = int(xa.shape[0])
        g, G = A.check_groups(group_sizes)
        v = A.check_valid(valid, T)
        plan = ctypes.c_void_p()
        check(lib.usmoe_plan_create(ctypes.byref(plan)))
        try:
            check(lib.usmoe_route(h, A.vptr(xa), T, A.ptr(g, ctypes.c_int64), G,
                                  A.ptr(v, ctypes.c_uint8), plan))
        except BaseException:
            lib.usmoe_plan_destroy(plan)
            raise
        return Plan(plan.value)

    def __repr__(self):
        state = " closed" if self.closed else ""
        return (f"<usmoe.Router{state} policy={self.policy} experts={self.num_experts} "
                f"dim={self.dim} k={self.k:g} alpha={self.alpha:g}>")
