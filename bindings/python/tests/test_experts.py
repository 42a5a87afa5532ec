"""Experts.forward against a float64 NumPy MoE block (and PyTorch, if installed)."""

import math

import numpy as np
import pytest

import usmoe


def _act(name, g):
    if name == "relu":
        return np.maximum(g, 0.0)
    if name == "gelu_tanh":
        return 0.5 * g * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3)))
    if name == "gelu_erf":
        return 0.5 * g * (1.0 + np.vectorize(math.erf)(g / math.sqrt(2.0)))
    raise AssertionError(name)


def ffn(x, w1, w3, w2, activation):
    """One expert on rows x, float64: W2 (act(W1 x) [* W3 x])."""
    g = x @ w1.T
    h = g / (1.0 + np.exp(-g)) * (x @ w3.T) if activation == "swiglu" else _act(activation, g)
    return h @ w2.T


def ref_moe(x, plan, w1, w3, w2, activation, shared=None):
    x = x.astype(np.float64)
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)  # noqa: E731
    w1, w3, w2 = f64(w1), f64(w3), f64(w2)
    y = np.zeros_like(x)
    gates = plan.dense_weights().astype(np.float64)
    for e in range(plan.num_experts):
        toks = np.nonzero(plan.mask()[:, e])[0]
        if toks.size:
            y[toks] += gates[toks, e:e + 1] * ffn(x[toks], w1[e], None if w3 is None else w3[e],
                                                  w2[e], activation)
    if shared is not None:
        s1, s3, s2 = (f64(a) for a in shared)
        for s in range(s1.shape[0]):
            y += ffn(x, s1[s], None if s3 is None else s3[s], s2[s], activation)
    return y


def make_weights(rng, N, d, f, gated=True, S=0, fs=0):
    sc1, sc2 = 1 / math.sqrt(d), 1 / math.sqrt(f)
    w1 = (rng.standard_normal((N, f, d)) * sc1).astype(np.float32)
    w3 = (rng.standard_normal((N, f, d)) * sc1).astype(np.float32) if gated else None
    w2 = (rng.standard_normal((N, d, f)) * sc2).astype(np.float32)
    shared = None
    if S:
        s1 = (rng.standard_normal((S, fs, d)) * sc1).astype(np.float32)
        s3 = (rng.standard_normal((S, fs, d)) * sc1).astype(np.float32) if gated else None
        s2 = (rng.standard_normal((S, d, fs)) / math.sqrt(fs)).astype(np.float32)
        shared = (s1, s3, s2)
    return w1, w3, w2, shared


def assert_close(y, ref, rtol):
    scale = max(float(np.abs(ref).max()), 1e-30)
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol * scale)


def _onednn_built():
    w = np.ones((1, 1, 1), np.float32)
    try:
        usmoe.Experts(w, w, w, backend="onednn").close()
        return True
    except usmoe.Error as e:
        assert e.status == usmoe.STATUS_UNSUPPORTED and "config->backend" in str(e)
        return False


BACKENDS = ["highway"] + (["onednn"] if _onednn_built() else [])


def _route(rng, T, N, d, policy="unified", k=2.0, **kw):
    gate = (rng.standard_normal((N, d)) / math.sqrt(d)).astype(np.float32)
    x = rng.standard_normal((T, d)).astype(np.float32)
    return x, usmoe.Router(gate, policy=policy, k=k, **kw).route(x)


@pytest.mark.parametrize("backend", ["auto"] + BACKENDS)
@pytest.mark.parametrize("activation", ["swiglu", "gelu_tanh", "gelu_erf", "relu"])
@pytest.mark.parametrize("policy,k", [("unified", 1.5), ("token_choice", 2),
                                      ("expert_choice", 2.0)])
def test_forward_matches_reference(rng, activation, policy, k, backend):
    T, N, d, f = 45, 8, 32, 48
    x, plan = _route(rng, T, N, d, policy, k, gate_norm="selected")
    w1, w3, w2, _ = make_weights(rng, N, d, f, gated=activation == "swiglu")
    ex = usmoe.Experts(w1, w3, w2, activation=activation, backend=backend)
    assert ex.backend == backend and backend in repr(ex)
    y = ex.forward(x, plan)
    assert y.shape == (T, d) and y.dtype == np.float32
    assert_close(y, ref_moe(x, plan, w1, w3, w2, activation), 1e-4)
    assert (ex.num_experts, ex.dim, ex.hidden, ex.num_shared) == (N, d, f, 0)
    assert ex.activation == activation and activation in repr(ex)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["swiglu", "relu"])
def test_shared_experts(rng, activation, backend):
    T, N, d, f = 30, 6, 24, 40
    x, plan = _route(rng, T, N, d, "unified", 1.0)
    w1, w3, w2, shared = make_weights(rng, N, d, f, activation == "swiglu", S=2, fs=20)
    ex = usmoe.Experts(w1, w3, w2, activation, shared_w1=shared[0], shared_w3=shared[1],
                       shared_w2=shared[2], backend=backend)
    assert ex.num_shared == 2
    y = ex.forward(x, plan)
    assert_close(y, ref_moe(x, plan, w1, w3, w2, activation, shared), 1e-4)


def test_tokens_without_experts_get_zero(rng):
    T, N, d, f = 20, 4, 16, 8
    x, _ = _route(rng, T, N, d)
    gate = (rng.standard_normal((N, d))).astype(np.float32)
    valid = np.arange(T) % 2 == 0
    plan = usmoe.Router(gate, policy="unified", k=0.5).route(x, valid=valid)
    assert (plan.token_counts == 0).any()
    w1, w3, w2, _ = make_weights(rng, N, d, f)
    y = usmoe.Experts(w1, w3, w2).forward(x, plan)
    np.testing.assert_array_equal(y[plan.token_counts == 0], 0.0)
    assert_close(y, ref_moe(x, plan, w1, w3, w2, "swiglu"), 1e-4)
    # An empty plan: all zeros.
    empty = usmoe.Router(gate, policy="unified", k=0.0).route(x)
    np.testing.assert_array_equal(usmoe.Experts(w1, w3, w2).forward(x, empty), 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bfloat16_weights(rng, backend):
    T, N, d, f = 33, 8, 64, 96
    x, plan = _route(rng, T, N, d, "unified", 2.0)
    w1, w3, w2, shared = make_weights(rng, N, d, f, S=1, fs=32)
    b = [usmoe.to_bfloat16(a) for a in (w1, w3, w2) + shared]
    ex = usmoe.Experts(b[0], b[1], b[2], shared_w1=b[3], shared_w3=b[4], shared_w2=b[5],
                       dtype="bfloat16", backend=backend)
    y = ex.forward(x, plan)
    wf = [usmoe.from_bfloat16(a) for a in b]
    ref = ref_moe(x, plan, wf[0], wf[1], wf[2], "swiglu", tuple(wf[3:]))
    # Weights are exactly the bf16 values; activations may be rounded to bf16
    # inside the GEMM, so compare in norm with a bf16-sized tolerance.
    assert np.linalg.norm(y - ref) <= 1e-2 * np.linalg.norm(ref)
    with pytest.raises(usmoe.Error, match="uint16"):
        usmoe.Experts(w1, w3, w2, dtype="bfloat16")


def test_forward_out_and_noncontiguous(rng):
    T, N, d, f = 16, 4, 8, 12
    x, plan = _route(rng, T, N, d)
    w1, w3, w2, _ = make_weights(rng, N, d, f)
    ex = usmoe.Experts(w1, w3, w2)
    y = ex.forward(x, plan)
    out = np.full((T, d), np.nan, np.float32)
    assert ex.forward(x, plan, out=out) is out
    np.testing.assert_array_equal(out, y)
    np.testing.assert_array_equal(ex(np.asfortranarray(x), plan), y)
    ex2 = usmoe.Experts(np.asfortranarray(w1), w3[:, :, :], np.ascontiguousarray(w2))
    np.testing.assert_array_equal(ex2.forward(x, plan), y)
    with pytest.raises(usmoe.Error, match="out: must be C-contiguous"):
        ex.forward(x, plan, out=np.empty((d, T), np.float32).T)
    with pytest.raises(usmoe.Error, match=r"out: expected shape"):
        ex.forward(x, plan, out=np.empty((T, d + 1), np.float32))
    with pytest.raises(usmoe.Error, match=r"usmoe_experts_forward: .*overlap"):
        ex.forward(x, plan, out=x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_is_thread_count_independent(rng, backend):
    T, N, d, f = 300, 16, 64, 64
    x, plan = _route(rng, T, N, d, "unified", 3.0)
    w1, w3, w2, shared = make_weights(rng, N, d, f, S=1, fs=64)
    ex = usmoe.Experts(w1, w3, w2, shared_w1=shared[0], shared_w3=shared[1],
                       shared_w2=shared[2], backend=backend)
    ys = []
    for n in (1, 2, 3):
        usmoe.set_num_threads(n)
        ys.append(ex.forward(x, plan))
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])


def test_experts_errors(rng):
    N, d, f = 4, 8, 6
    w1, w3, w2, shared = make_weights(rng, N, d, f, S=1, fs=4)
    with pytest.raises(usmoe.Error, match=r"activation = 'gelu'"):
        usmoe.Experts(w1, w3, w2, activation="gelu")
    with pytest.raises(usmoe.Error, match=r"w3: required"):
        usmoe.Experts(w1, None, w2)
    with pytest.raises(usmoe.Error, match=r"w3: must be None"):
        usmoe.Experts(w1, w3, w2, activation="relu")
    with pytest.raises(usmoe.Error, match=r"w3: expected shape \(4, 6, 8\)"):
        usmoe.Experts(w1, w3[:, :5], w2)
    with pytest.raises(usmoe.Error, match=r"w2: expected shape \(4, 8, 6\)"):
        usmoe.Experts(w1, w3, w2.transpose(0, 2, 1))
    with pytest.raises(usmoe.Error, match=r"w1: expected a 3-D array"):
        usmoe.Experts(w1[0], w3, w2)
    with pytest.raises(usmoe.Error, match=r"w1: expected dtype float32, got float64"):
        usmoe.Experts(w1.astype(np.float64), w3, w2)
    with pytest.raises(usmoe.Error, match=r"dtype"):
        usmoe.Experts(w1, w3, w2, dtype="int8")
    with pytest.raises(usmoe.Error, match=r"backend = 'gpu': expected one of 'auto'"):
        usmoe.Experts(w1, w3, w2, backend="gpu")
    with pytest.raises(usmoe.Error, match=r"backend = 2"):
        usmoe.Experts(w1, w3, w2, backend=2)
    with pytest.raises(usmoe.Error, match=r"shared_w1 and shared_w2"):
        usmoe.Experts(w1, w3, w2, shared_w1=shared[0])
    with pytest.raises(usmoe.Error, match=r"shared_w3: required"):
        usmoe.Experts(w1, w3, w2, shared_w1=shared[0], shared_w2=shared[2])
    with pytest.raises(usmoe.Error, match=r"shared_w2: expected shape \(1, 8, 4\)"):
        usmoe.Experts(w1, w3, w2, shared_w1=shared[0], shared_w3=shared[1],
                      shared_w2=shared[2][:, :, :3])
    with pytest.raises(usmoe.Error, match=r"shared_w3: must be None"):
        usmoe.Experts(w1, None, w2, activation="relu", shared_w1=shared[0],
                      shared_w3=shared[1], shared_w2=shared[2])
    bad = w2.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(usmoe.Error, match=r"usmoe_experts_create") as ei:
        usmoe.Experts(w1, w3, bad)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT


def test_forward_errors(rng):
    T, N, d, f = 10, 4, 8, 6
    x, plan = _route(rng, T, N, d)
    w1, w3, w2, _ = make_weights(rng, N, d, f)
    ex = usmoe.Experts(w1, w3, w2)
    with pytest.raises(usmoe.Error, match=r"usmoe_experts_forward: plan routes 10 tokens"):
        ex.forward(x[:5], plan)
    other_n = usmoe.Router(np.eye(5, d, dtype=np.float32), k=1).route(x)
    with pytest.raises(usmoe.Error, match=r"usmoe_experts_forward: .*experts"):
        ex.forward(x, other_n)
    with pytest.raises(usmoe.Error, match=r"x: expected shape \(\?, 8\)"):
        ex.forward(x[:, :7], plan)
    with pytest.raises(usmoe.Error, match=r"x: expected dtype float32"):
        ex.forward(usmoe.to_bfloat16(x), plan)
    with pytest.raises(usmoe.Error, match=r"plan: expected a usmoe.Plan"):
        ex.forward(x, plan.mask())
    nan = x.copy()
    nan[3, 2] = np.nan
    with pytest.raises(usmoe.Error, match=r"usmoe_experts_forward") as ei:
        ex.forward(nan, plan)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT
    plan.close()
    with pytest.raises(usmoe.Error, match=r"plan is closed"):
        ex.forward(x, plan)


def test_experts_lifetime(rng):
    import gc
    T, N, d, f = 6, 2, 4, 4
    x, plan = _route(rng, T, N, d, k=1.0)
    w1, w3, w2, _ = make_weights(rng, N, d, f)
    with usmoe.Experts(w1, w3, w2) as ex:
        ex.forward(x, plan)
    assert ex.closed
    ex.close()
    with pytest.raises(usmoe.Error, match="closed"):
        ex.forward(x, plan)
    ex = usmoe.Experts(w1, w3, w2)
    fin = ex._finalizer
    del ex
    gc.collect()
    assert not fin.alive


def test_forward_matches_pytorch_swiglu_moe(rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    T, N, d, f = 40, 8, 32, 64
    x, plan = _route(rng, T, N, d, "unified", 2.0, gate_norm="selected")
    w1, w3, w2, shared = make_weights(rng, N, d, f, S=1, fs=48)

    class SwiGLU(torch.nn.Module):
        def __init__(self, a1, a3, a2):
            super().__init__()
            self.w1 = torch.nn.Linear(a1.shape[1], a1.shape[0], bias=False)
            self.w3 = torch.nn.Linear(a3.shape[1], a3.shape[0], bias=False)
            self.w2 = torch.nn.Linear(a2.shape[1], a2.shape[0], bias=False)
            with torch.no_grad():
                self.w1.weight.copy_(torch.from_numpy(a1))
                self.w3.weight.copy_(torch.from_numpy(a3))
                self.w2.weight.copy_(torch.from_numpy(a2))

        def forward(self, h):
            return self.w2(F.silu(self.w1(h)) * self.w3(h))

    class MoE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.experts = torch.nn.ModuleList(SwiGLU(w1[e], w3[e], w2[e]) for e in range(N))
            self.shared = SwiGLU(shared[0][0], shared[1][0], shared[2][0])

        def forward(self, h, gates):          # gates: (T, N) dense, 0 = not routed
            y = self.shared(h)
            for e, expert in enumerate(self.experts):
                idx = torch.nonzero(gates[:, e] != 0).flatten()
                if idx.numel():
                    y = y.index_add(0, idx, gates[idx, e:e + 1] * expert(h[idx]))
            return y

    with torch.no_grad():
        ref = MoE().double()(torch.from_numpy(x).double(),
                             torch.from_numpy(plan.dense_weights()).double()).numpy()
    ex = usmoe.Experts(w1, w3, w2, shared_w1=shared[0], shared_w3=shared[1],
                       shared_w2=shared[2])
    assert_close(ex.forward(x, plan), ref, 1e-4)
