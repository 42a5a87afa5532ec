"""Routing: Router/Plan against an independent NumPy reference.

The reference below implements DESIGN.md §1 directly and shares no code with
the library or the bindings. Scores are compared with the reference within
1e-5 relative; the selection is compared EXACTLY, using the library's own
scores (keep_scores=True) as the input of the reference selection, so that a
last-bit difference in a score cannot flip a tie.
"""

import math

import numpy as np
import pytest

import usmoe


# --------------------------------------------------------------------------
# Independent reference (float64 scores; selection by stable sort).

def ref_logits(x, w):
    return np.asarray(x, np.float64) @ np.asarray(w, np.float64).T


def group_bounds(T, group_sizes):
    if group_sizes is None:
        return [(0, T)]
    out, a = [], 0
    for g in group_sizes:
        out.append((a, a + int(g)))
        a += int(g)
    assert a == T
    return out


def ref_scores(L, alpha, expert_score, group_sizes=None, valid=None):
    """U = (1-alpha) softmax_experts(L) + alpha f_e(L), float64."""
    L = np.asarray(L, np.float64)
    T, N = L.shape
    valid = np.ones(T, bool) if valid is None else np.asarray(valid, bool)
    ex = np.exp(L - L.max(axis=1, keepdims=True))
    ft = ex / ex.sum(axis=1, keepdims=True)
    if expert_score == "sigmoid":
        fe = 1.0 / (1.0 + np.exp(-L)) * (2.0 / N)
    else:
        fe = np.zeros_like(L)
        for a, b in group_bounds(T, group_sizes):
            rows = np.arange(a, b)[valid[a:b]]
            if rows.size == 0:
                continue
            sub = L[rows]
            e = np.exp(sub - sub.max(axis=0, keepdims=True))
            fe[rows] = e / e.sum(axis=0, keepdims=True)
    return (1.0 - alpha) * ft + alpha * fe


def _desc_order(v):
    """Indices of v in descending order; equal values keep index order."""
    return np.argsort(-np.asarray(v), kind="stable")


def ref_select(S, policy, k, capacity_factor=1.0, group_sizes=None, valid=None):
    """(T, N) bool selection from scores S, by the rules of DESIGN.md §1."""
    T, N = S.shape
    valid = np.ones(T, bool) if valid is None else np.asarray(valid, bool)
    sel = np.zeros((T, N), bool)
    for a, b in group_bounds(T, group_sizes):
        rows = np.arange(a, b)[valid[a:b]]
        Tv = rows.size
        if Tv == 0:
            continue
        sub = S[rows]
        if policy == "token_choice":
            kk = int(k)
            for i, t in enumerate(rows):
                sel[t, _desc_order(sub[i])[:kk]] = True
        elif policy == "expert_choice":
            C = min(Tv, math.ceil(capacity_factor * k * Tv / N))
            for e in range(N):
                sel[rows[_desc_order(sub[:, e])[:C]], e] = True
        elif policy == "unified":
            c = min(Tv * N, math.floor(k * Tv + 0.5))
            flat = _desc_order(sub.reshape(-1))[:c]
            sel[rows[flat // N], flat % N] = True
        else:
            raise AssertionError(policy)
    return sel


def ref_gates(S, sel, gate_norm):
    S = np.asarray(S, np.float64)
    g = np.where(sel, S, 0.0)
    if gate_norm == "selected":
        den = g.sum(axis=1, keepdims=True)
        g = np.divide(g, den, out=np.zeros_like(g), where=den > 0)
    elif gate_norm == "all":
        g = np.where(sel, S / S.sum(axis=1, keepdims=True), 0.0)
    return g


def ref_plan(sel, gates):
    """Expert-grouped plan arrays from a selection mask and dense gates."""
    T, N = sel.shape
    loads = sel.sum(axis=0).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(loads)]).astype(np.int64)
    token_ids = np.concatenate([np.nonzero(sel[:, e])[0] for e in range(N)]
                               + [np.zeros(0, np.int64)]).astype(np.int64)
    expert_ids = np.repeat(np.arange(N), loads)
    weights = gates[token_ids, expert_ids]
    counts = sel.sum(axis=1).astype(np.int64)
    t_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    t_exp = np.concatenate([np.nonzero(sel[t])[0] for t in range(T)]
                           + [np.zeros(0, np.int64)]).astype(np.int64)
    t_w = gates[np.repeat(np.arange(T), counts), t_exp]
    return dict(expert_offsets=offsets, token_ids=token_ids, weights=weights,
                token_counts=counts, expert_loads=loads, token_offsets=t_off,
                token_experts=t_exp, token_weights=t_w)


def check_plan(plan, S, policy, k, capacity_factor=1.0, group_sizes=None, valid=None,
               gate_norm="none"):
    """Asserts that plan is exactly the reference plan for scores S."""
    sel = ref_select(S, policy, k, capacity_factor, group_sizes, valid)
    ref = ref_plan(sel, ref_gates(S, sel, gate_norm))
    T, N = S.shape
    assert plan.num_tokens == T and plan.num_experts == N
    assert plan.num_selected == int(sel.sum())
    np.testing.assert_array_equal(plan.mask(), sel)
    for key in ("expert_offsets", "token_ids", "token_counts", "expert_loads"):
        got = getattr(plan, key)
        assert got.dtype == np.int64, key
        np.testing.assert_array_equal(got, ref[key], err_msg=key)
    assert plan.weights.dtype == np.float32
    np.testing.assert_allclose(plan.weights, ref["weights"], rtol=1e-5, atol=1e-7)
    if plan.token_view is not None:
        np.testing.assert_array_equal(plan.token_offsets, ref["token_offsets"])
        np.testing.assert_array_equal(plan.token_experts, ref["token_experts"])
        np.testing.assert_allclose(plan.token_weights, ref["token_weights"], rtol=1e-5,
                                   atol=1e-7)
    return sel


def make_problem(rng, T, N, d, scale=1.0):
    x = rng.standard_normal((T, d)).astype(np.float32)
    w = (rng.standard_normal((N, d)) * (scale / math.sqrt(d))).astype(np.float32)
    return x, w


# --------------------------------------------------------------------------
# The golden vector of DESIGN.md §1.

GOLDEN_L = np.array([[2.0, 0.1, -1.0, 0.5], [-0.3, 0.2, 0.1, 0.0],
                     [1.5, 1.4, 1.3, -2.0], [0.0, -0.5, 0.9, 1.1]], np.float32)
GOLDEN_U = np.array([[0.571697, 0.183818, 0.084735, 0.234044],
                     [0.197457, 0.287604, 0.267102, 0.247929],
                     [0.385963, 0.364837, 0.345115, 0.035284],
                     [0.195718, 0.137278, 0.351676, 0.400015]])


def test_golden_vector_unified():
    with usmoe.Router(np.eye(4, dtype=np.float32), policy="unified", k=2.0,
                      keep_scores=True, token_view=True) as r:
        assert r.alpha == 0.5
        plan = r.route(GOLDEN_L)
    np.testing.assert_allclose(plan.scores, GOLDEN_U, atol=1.5e-6, rtol=0)
    np.testing.assert_allclose(plan.scores, ref_scores(GOLDEN_L, 0.5, "sigmoid"), rtol=1e-5)
    sets = [set(plan.token_experts[plan.token_offsets[t]:plan.token_offsets[t + 1]])
            for t in range(4)]
    assert sets == [{0}, {1, 2}, {0, 1, 2}, {2, 3}]
    np.testing.assert_array_equal(plan.expert_loads, [2, 2, 3, 1])
    np.testing.assert_array_equal(plan.token_counts, [1, 2, 3, 2])
    np.testing.assert_array_equal(plan.expert_offsets, [0, 2, 4, 7, 8])
    np.testing.assert_array_equal(plan.token_ids, [0, 2, 1, 2, 1, 2, 3, 3])
    np.testing.assert_allclose(plan.weights, GOLDEN_U[plan.token_ids, plan.expert_ids],
                               atol=1.5e-6)
    check_plan(plan, plan.scores, "unified", 2.0)


def test_golden_vector_token_choice():
    r = usmoe.Router(np.eye(4, dtype=np.float32), policy="token_choice", k=2,
                     keep_scores=True)
    assert r.alpha == 0.0
    plan = r.route(GOLDEN_L)
    m = plan.mask()
    assert set(np.nonzero(m[0])[0]) == {0, 3}
    np.testing.assert_array_equal(plan.token_counts, [2, 2, 2, 2])
    np.testing.assert_allclose(plan.scores, ref_scores(GOLDEN_L, 0.0, "sigmoid"), rtol=1e-5)
    check_plan(plan, plan.scores, "token_choice", 2)
    # TC on the unified score also gives t0 {0, 3}.
    r2 = usmoe.Router(np.eye(4, dtype=np.float32), policy="token_choice", k=2, alpha=0.5)
    assert set(np.nonzero(r2.route(GOLDEN_L).mask()[0])[0]) == {0, 3}


# --------------------------------------------------------------------------
# Randomised comparisons with the reference.

CASES = [
    # policy, k, capacity_factor
    ("unified", 2.0, 1.0),
    ("unified", 1.5, 1.0),   # fractional k
    ("unified", 0.75, 1.0),
    ("unified", 0.0, 1.0),   # empty budget
    ("unified", 8.0, 1.0),   # everything
    ("token_choice", 1, 1.0),
    ("token_choice", 3, 1.0),
    ("expert_choice", 2.0, 1.0),
    ("expert_choice", 1.5, 1.25),
    ("expert_choice", 2.0, 0.5),
]


@pytest.mark.parametrize("policy,k,cf", CASES)
@pytest.mark.parametrize("expert_score", ["sigmoid", "softmax_tokens"])
@pytest.mark.parametrize("layout", ["one_group", "groups", "groups_and_mask"])
def test_route_matches_reference(rng, policy, k, cf, expert_score, layout):
    T, N, d = 37, 8, 24
    x, w = make_problem(rng, T, N, d)
    groups = valid = None
    if layout != "one_group":
        groups = [5, 0, 12, 1, 19]
    if layout == "groups_and_mask":
        valid = rng.random(T) > 0.3
        valid[17] = False        # the size-1 group is all padding
    alpha = rng.choice([0.0, 0.3, 0.5, 1.0])
    r = usmoe.Router(w, policy=policy, k=k, alpha=alpha, expert_score=expert_score,
                     capacity_factor=cf, keep_scores=True, token_view=True)
    plan = r.route(x, group_sizes=groups, valid=valid)
    U = ref_scores(ref_logits(x, w), alpha, expert_score, groups, valid)
    vm = np.ones(T, bool) if valid is None else valid
    np.testing.assert_allclose(plan.scores[vm], U[vm], rtol=1e-5, atol=1e-9)
    sel = check_plan(plan, plan.scores, policy, k, cf, groups, valid)
    assert not sel[~vm].any()
    # The library's selection is also the reference's on the float64 scores,
    # up to near-ties (cells within 1e-6 of the selection threshold).
    sel64 = ref_select(U, policy, k, cf, groups, valid)
    assert (sel64 != sel).sum() <= 2


@pytest.mark.parametrize("gate_norm", ["none", "selected", "all"])
@pytest.mark.parametrize("policy,k", [("unified", 1.5), ("token_choice", 2),
                                      ("expert_choice", 2.0)])
def test_gate_norm(rng, gate_norm, policy, k):
    x, w = make_problem(rng, 40, 6, 16)
    r = usmoe.Router(w, policy=policy, k=k, gate_norm=gate_norm, keep_scores=True,
                     token_view=True)
    plan = r.route(x, group_sizes=[25, 15])
    check_plan(plan, plan.scores, policy, k, group_sizes=[25, 15], gate_norm=gate_norm)
    if gate_norm == "selected":
        sums = np.add.reduceat(plan.token_weights.astype(np.float64),
                               plan.token_offsets[:-1]) if plan.num_selected else []
        has = plan.token_counts > 0
        np.testing.assert_allclose(np.asarray(sums)[has[:len(sums)]] if len(sums) else [],
                                   1.0, rtol=1e-5)


def _ties_problem(rng, T, N, d):
    """Integer-valued x and W with repeated tokens: many exactly equal scores."""
    base = rng.integers(-2, 3, size=(5, d)).astype(np.float32)
    x = base[rng.integers(0, 5, size=T)]
    w = rng.integers(-1, 2, size=(N, d)).astype(np.float32)
    w[1] = w[0]            # two identical experts
    w[N - 1] = 0.0         # an expert with constant logits
    return x, w


@pytest.mark.parametrize("policy,k", [("unified", 2.5), ("token_choice", 2),
                                      ("expert_choice", 3.0), ("unified", 1.0)])
@pytest.mark.parametrize("expert_score", ["sigmoid", "softmax_tokens"])
def test_tie_rule(rng, policy, k, expert_score):
    T, N, d = 50, 8, 12
    x, w = _ties_problem(rng, T, N, d)
    r = usmoe.Router(w, policy=policy, k=k, expert_score=expert_score, keep_scores=True,
                     token_view=True)
    plan = r.route(x, group_sizes=[20, 30])
    S = plan.scores
    assert len(np.unique(S)) < S.size // 4        # the case really has ties
    check_plan(plan, S, policy, k, group_sizes=[20, 30])


@pytest.mark.parametrize("policy,k", [("unified", 8.0), ("unified", 2.5),
                                      ("token_choice", 8), ("expert_choice", 8.0)])
def test_large_batch(rng, policy, k):
    # Large enough for the library's sampled/radix selection paths.
    T, N, d = 2048, 64, 48
    x, w = make_problem(rng, T, N, d)
    r = usmoe.Router(w, policy=policy, k=k, keep_scores=True)
    groups = [1000, 1048]
    plan = r.route(x, group_sizes=groups)
    U = ref_scores(ref_logits(x, w), r.alpha, "sigmoid")
    np.testing.assert_allclose(plan.scores, U, rtol=1e-5, atol=1e-9)
    check_plan(plan, plan.scores, policy, k, group_sizes=groups)


def test_large_batch_with_ties(rng):
    T, N, d = 4096, 32, 16
    x, w = _ties_problem(rng, T, N, d)
    r = usmoe.Router(w, policy="unified", k=3.25, keep_scores=True)
    plan = r.route(x)
    check_plan(plan, plan.scores, "unified", 3.25)


def test_mask_excludes_budget_and_padding(rng):
    T, N, d = 20, 4, 8
    x, w = make_problem(rng, T, N, d)
    valid = np.zeros(T, bool)
    valid[:10] = True
    r = usmoe.Router(w, policy="unified", k=1.5)
    plan = r.route(x, valid=valid)
    assert plan.num_selected == math.floor(1.5 * 10 + 0.5)
    assert plan.token_counts[10:].sum() == 0
    # Masks may be given as integers too.
    plan2 = r.route(x, valid=valid.astype(np.int32) * 7)
    np.testing.assert_array_equal(plan2.token_ids, plan.token_ids)
    # An all-padding batch selects nothing.
    plan3 = r.route(x, valid=np.zeros(T, bool))
    assert plan3.num_selected == 0
    np.testing.assert_array_equal(plan3.expert_offsets, np.zeros(N + 1))


def test_fractional_budget_counts(rng):
    T, N, d = 33, 8, 8
    x, w = make_problem(rng, T, N, d)
    for k in (0.5, 1.0, 1.5, 2.25, 7.9, 8.0):
        plan = usmoe.Router(w, policy="unified", k=k).route(x, group_sizes=[11, 0, 22])
        assert plan.num_selected == (math.floor(k * 11 + 0.5)
                                     + min(22 * N, math.floor(k * 22 + 0.5)))


def test_single_token_unified_is_topk_of_u(rng):
    # Decoding note: with T=1 per group, UNIFIED is the per-token top-k of U.
    x, w = make_problem(rng, 6, 8, 16)
    u = usmoe.Router(w, policy="unified", k=2.0).route(x, group_sizes=[1] * 6)
    tc = usmoe.Router(w, policy="token_choice", k=2, alpha=0.5).route(x)
    np.testing.assert_array_equal(u.mask(), tc.mask())


def test_unified_objective_dominates(rng):
    # Proposition 3.1: for the same U and budget, unified's selected-score sum is >= TC's.
    x, w = make_problem(rng, 64, 8, 16)
    u = usmoe.Router(w, policy="unified", k=2.0, keep_scores=True).route(x)
    tc = usmoe.Router(w, policy="token_choice", k=2, alpha=0.5, keep_scores=True).route(x)
    ec = usmoe.Router(w, policy="expert_choice", k=2.0, alpha=0.5, keep_scores=True).route(x)
    np.testing.assert_array_equal(u.scores, tc.scores)
    obj = lambda p: float(u.scores[p.mask()].sum())  # noqa: E731
    assert u.num_selected == tc.num_selected == ec.num_selected == 128
    assert obj(u) >= obj(tc) and obj(u) >= obj(ec)


def test_bfloat16_router(rng):
    T, N, d = 30, 8, 32
    x, w = make_problem(rng, T, N, d)
    xb, wb = usmoe.to_bfloat16(x), usmoe.to_bfloat16(w)
    r = usmoe.Router(wb, policy="unified", k=2.0, dtype="bfloat16", keep_scores=True)
    assert r.config["dtype"] == "bfloat16"
    plan = r.route(xb)
    U = ref_scores(ref_logits(usmoe.from_bfloat16(xb), usmoe.from_bfloat16(wb)), 0.5,
                   "sigmoid")
    np.testing.assert_allclose(plan.scores, U, rtol=1e-5, atol=1e-9)
    check_plan(plan, plan.scores, "unified", 2.0)
    with pytest.raises(usmoe.Error, match="to_bfloat16"):
        r.route(x)
    with pytest.raises(usmoe.Error, match="uint16"):
        usmoe.Router(w, dtype="bfloat16")


def test_alpha_default_and_config(rng):
    _, w = make_problem(rng, 1, 4, 8)
    assert usmoe.Router(w, k=2).alpha == 0.5
    assert usmoe.Router(w, policy="token_choice", k=2).alpha == 0.0
    assert usmoe.Router(w, policy="expert_choice", k=2).alpha == 0.0
    cfg = usmoe.Router(w, policy="expert_choice", k=1.5, alpha=0.25,
                       expert_score="softmax_tokens", gate_norm="all",
                       capacity_factor=2.0, keep_scores=True).config
    assert cfg == dict(num_experts=4, dim=8, policy="expert_choice", dtype="float32",
                       k=1.5, alpha=0.25, capacity_factor=2.0,
                       expert_score="softmax_tokens", gate_norm="all", keep_scores=True,
                       token_view=False)
    r = usmoe.Router(w, k=3)
    assert (r.num_experts, r.dim, r.policy, r.k) == (4, 8, "unified", 3.0)
    assert "unified" in repr(r)


def test_each_route_returns_a_new_plan(rng):
    x1, w = make_problem(rng, 16, 4, 8)
    x2 = rng.standard_normal((9, 8)).astype(np.float32)
    r = usmoe.Router(w, policy="unified", k=1.5, keep_scores=True, token_view=True)
    p1 = r.route(x1)
    snap = {k: np.array(getattr(p1, k)) for k in
            ("expert_offsets", "token_ids", "weights", "token_counts", "expert_loads",
             "scores", "token_offsets", "token_experts", "token_weights")}
    p2 = r.route(x2)
    assert p2 is not p1 and p2._handle.value != p1._handle.value
    assert p1.num_tokens == 16 and p2.num_tokens == 9
    for k, v in snap.items():
        np.testing.assert_array_equal(getattr(p1, k), v, err_msg=k)
    # Plan arrays own their memory and are read-only snapshots.
    for k in snap:
        a = getattr(p1, k)
        assert a.flags.owndata or a.base is not None and a.base.flags.owndata
        assert not a.flags.writeable
    with pytest.raises(ValueError):
        p1.token_ids[0] = 3
    # ... and survive closing the plan and the router.
    p1.close()
    r.close()
    for k, v in snap.items():
        np.testing.assert_array_equal(getattr(p1, k), v, err_msg=k)


def test_plan_optional_parts_absent(rng):
    x, w = make_problem(rng, 8, 4, 8)
    plan = usmoe.Router(w, k=2).route(x)
    assert plan.scores is None
    assert plan.token_view is None
    assert plan.token_offsets is None and plan.token_experts is None
    assert plan.token_weights is None
    dw = plan.dense_weights()
    assert dw.shape == (8, 4) and dw.dtype == np.float32
    np.testing.assert_array_equal(dw != 0, plan.mask())
    assert "tokens=8" in repr(plan)


def test_noncontiguous_inputs_are_accepted(rng):
    x, w = make_problem(rng, 24, 8, 16)
    r = usmoe.Router(w, k=2, keep_scores=True)
    ref = r.route(x)
    xf = np.asfortranarray(x)
    assert not xf.flags.c_contiguous
    p = r.route(xf)
    np.testing.assert_array_equal(p.scores, ref.scores)
    np.testing.assert_array_equal(p.token_ids, ref.token_ids)
    wide = np.zeros((24, 32), np.float32)
    wide[:, ::2] = x
    np.testing.assert_array_equal(r.route(wide[:, ::2]).token_ids, ref.token_ids)
    rw = usmoe.Router(np.asfortranarray(w), k=2, keep_scores=True)
    np.testing.assert_array_equal(rw.route(x).scores, ref.scores)
    # Group sizes from any integer sequence; masks from strided bool views.
    v = np.ones(48, bool)[::2]
    np.testing.assert_array_equal(r.route(x, group_sizes=(24,), valid=v).token_ids,
                                  ref.token_ids)
    np.testing.assert_array_equal(
        r.route(x, group_sizes=np.array([10, 14], np.int32)).token_ids,
        r.route(x, group_sizes=[10, 14]).token_ids)
    # Lists of floats are converted.
    np.testing.assert_array_equal(r.route(x.tolist()).scores, ref.scores)


def test_threads_do_not_change_results(rng):
    x, w = make_problem(rng, 1500, 32, 64)
    outs = []
    for n in (1, 2, 3):
        usmoe.set_num_threads(n)
        assert usmoe.get_num_threads() == n
        for policy, k in (("unified", 2.5), ("token_choice", 4), ("expert_choice", 4.0)):
            p = usmoe.Router(w, policy=policy, k=k, keep_scores=True).route(
                x, group_sizes=[700, 800])
            outs.append((n, policy, p))
    base = {pol: p for n, pol, p in outs if n == 1}
    for n, pol, p in outs:
        np.testing.assert_array_equal(p.scores, base[pol].scores)
        np.testing.assert_array_equal(p.token_ids, base[pol].token_ids)
        np.testing.assert_array_equal(p.weights, base[pol].weights)


# Targets without fused multiply-add round a*b+c twice; README.md documents
# that their scores may differ from the FMA targets' in the last bit.
NON_FMA_TARGETS = {"SSE2", "SSSE3", "SSE4", "SCALAR", "EMU128"}


def test_simd_targets_do_not_change_results(rng):
    """Bit-identical results on every FMA target; on the others, scores equal
    to the last bit or so and a selection exact for the scores computed."""
    x, w = make_problem(rng, 300, 16, 40)
    xt, wt = _ties_problem(rng, 300, 16, 40)
    usmoe.set_simd_targets(0)
    default_name = usmoe.simd_target_name()
    groups = [100, 200]
    configs = [(xx, ww, policy, k, es)
               for xx, ww in ((x, w), (xt, wt))
               for policy, k in (("unified", 2.5), ("token_choice", 3), ("expert_choice", 2.0))
               for es in ("sigmoid", "softmax_tokens")]

    def run():
        return [usmoe.Router(ww, policy=policy, k=k, expert_score=es, keep_scores=True)
                .route(xx, group_sizes=groups) for xx, ww, policy, k, es in configs]

    base = run()
    names = set()
    for bit in usmoe.target_bits():
        usmoe.set_simd_targets(bit)
        name = usmoe.simd_target_name()
        names.add(name)
        for p, q, (_, _, policy, k, _) in zip(run(), base, configs):
            if name in NON_FMA_TARGETS and default_name not in NON_FMA_TARGETS:
                np.testing.assert_allclose(p.scores, q.scores, rtol=2e-6, atol=0,
                                           err_msg=name)
                check_plan(p, p.scores, policy, k, group_sizes=groups)
                continue
            np.testing.assert_array_equal(p.scores, q.scores, err_msg=name)
            np.testing.assert_array_equal(p.token_ids, q.token_ids, err_msg=name)
            np.testing.assert_array_equal(p.expert_offsets, q.expert_offsets, err_msg=name)
            np.testing.assert_array_equal(p.weights, q.weights, err_msg=name)
    usmoe.set_simd_targets(0)
    assert usmoe.simd_target_name() == default_name
    assert len(names) == len(usmoe.target_bits())


def test_router_shared_by_python_threads(rng):
    """One Router used by several Python threads at once (ctypes releases the
    GIL): every thread gets its own plan with the single-threaded result."""
    import threading
    x, w = make_problem(rng, 512, 16, 32)
    r = usmoe.Router(w, policy="unified", k=2.5, keep_scores=True)
    want = r.route(x, group_sizes=[200, 312])
    errors, done = [], []

    def work():
        try:
            for _ in range(20):
                p = r.route(x, group_sizes=[200, 312])
                np.testing.assert_array_equal(p.token_ids, want.token_ids)
                np.testing.assert_array_equal(p.scores, want.scores)
            done.append(1)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(done) == 4
