"""The Python API surface: version, constants, loading, errors, handles,
array checks, kernel entry points, threads, SIMD targets, bf16 helpers."""

import ctypes
import gc
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import usmoe
from usmoe import _arrays, _capi

from conftest import PKG_ROOT, REPO_ROOT

HEADER = os.path.join(REPO_ROOT, "include", "usmoe", "usmoe.h")


def _header_macros():
    if not os.path.exists(HEADER):
        pytest.skip("usmoe.h not found (not a source checkout)")
    with open(HEADER) as f:
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^#define USMOE_(\w+)\s+(\d+)\b", f.read(), re.M)}


# ------------------------------------------------------------------ version

def test_version_matches_library_and_header():
    n = _capi.lib.usmoe_version()
    assert usmoe.library_version_number == n
    assert usmoe.__version__ == f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", usmoe.__version__)
    macros = _header_macros()
    assert (usmoe.VERSION_MAJOR, usmoe.VERSION_MINOR, usmoe.VERSION_PATCH) == (
        macros["VERSION_MAJOR"], macros["VERSION_MINOR"], macros["VERSION_PATCH"])
    assert usmoe.__version__ == "%d.%d.%d" % (
        macros["VERSION_MAJOR"], macros["VERSION_MINOR"], macros["VERSION_PATCH"])


def test_constants_mirror_the_header():
    macros = _header_macros()
    prefixes = ("STATUS_", "DTYPE_", "POLICY_", "EXPERT_SCORE_", "GATE_NORM_",
                "ACTIVATION_", "BACKEND_", "VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH")
    mirrored = {k: v for k, v in macros.items() if k.startswith(prefixes)}
    assert len(mirrored) >= 24
    for name, value in mirrored.items():
        assert getattr(usmoe, name) == value, name


def test_struct_layouts():
    # The C library checks struct_size == sizeof, so these must match usmoe.h.
    assert ctypes.sizeof(_capi.RouterConfig) == 72
    assert ctypes.sizeof(_capi.PlanView) == 104
    assert ctypes.sizeof(_capi.ExpertsConfig) == 64


def test_status_strings():
    assert usmoe.status_string(0) == "success"
    assert usmoe.status_string(1) == "invalid argument"
    assert usmoe.status_string(999) == "unknown status"


# ------------------------------------------------------------------ loading

def _run_python(code, env_update, cwd="/", pythonpath=PKG_ROOT):
    # cwd matters: `python -c` puts the cwd first on sys.path.
    env = dict(os.environ)
    env.pop("USMOE_LIBRARY", None)
    env.update(env_update)
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_library_path_loaded():
    assert os.path.exists(usmoe.library_path) or "/" not in usmoe.library_path
    if os.environ.get("USMOE_LIBRARY"):
        assert usmoe.library_path == os.environ["USMOE_LIBRARY"]


def test_bad_usmoe_library_lists_place():
    r = _run_python("import usmoe", {"USMOE_LIBRARY": "/nonexistent/libusmoe.so"})
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "$USMOE_LIBRARY" in r.stderr and "/nonexistent/libusmoe.so" in r.stderr


def test_not_found_lists_every_place(tmp_path):
    # A copy of the package with no library next to it and no build tree.
    dst = tmp_path / "a" / "b" / "usmoe"
    shutil.copytree(os.path.join(PKG_ROOT, "usmoe"), dst,
                    ignore=shutil.ignore_patterns("*.so*", "__pycache__"))
    r = _run_python("import usmoe; print(usmoe.library_path)", {},
                    pythonpath=str(dst.parent))
    if r.returncode == 0:
        pytest.skip(f"a system libusmoe was found: {r.stdout.strip()}")
    for place in ("next to the package", "build tree", "find_library"):
        assert place in r.stderr, place


def test_library_next_to_package_and_build_tree(tmp_path):
    lib = usmoe.library_path
    if not os.path.exists(lib):
        pytest.skip("the loaded library is not a file path")
    dst = tmp_path / "a" / "b" / "usmoe"
    shutil.copytree(os.path.join(PKG_ROOT, "usmoe"), dst,
                    ignore=shutil.ignore_patterns("*.so*", "__pycache__"))
    # 1) in a build tree three levels up
    (tmp_path / "build-x").mkdir()
    shutil.copy(lib, tmp_path / "build-x" / "libusmoe.so")
    r = _run_python("import usmoe; print(usmoe.library_path)", {}, pythonpath=str(dst.parent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "build-x" / "libusmoe.so")
    # 2) next to the package: preferred over the build tree
    shutil.copy(lib, dst / "libusmoe.so.0")
    r = _run_python("import usmoe; print(usmoe.library_path)", {}, pythonpath=str(dst.parent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(dst / "libusmoe.so.0")


def test_major_version_mismatch_refused(tmp_path):
    dst = tmp_path / "usmoe"
    shutil.copytree(os.path.join(PKG_ROOT, "usmoe"), dst,
                    ignore=shutil.ignore_patterns("__pycache__"))
    src = (dst / "_capi.py").read_text()
    assert "VERSION_MAJOR = 0\n" in src or "VERSION_MAJOR = " in src
    src = re.sub(r"^VERSION_MAJOR = \d+$", "VERSION_MAJOR = 99", src, flags=re.M)
    (dst / "_capi.py").write_text(src)
    r = _run_python("import usmoe", {"USMOE_LIBRARY": usmoe.library_path},
                    pythonpath=str(tmp_path))
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "major version 99" in r.stderr


# ------------------------------------------------------------------- errors

def test_error_type_and_fields():
    with pytest.raises(usmoe.Error) as ei:
        usmoe.set_num_threads(-1)
    e = ei.value
    assert isinstance(e, ValueError)
    assert e.status == usmoe.STATUS_INVALID_ARGUMENT
    assert e.status_name == "invalid argument"
    assert "usmoe_set_num_threads" in e.message or "num_threads" in e.message
    assert e.message in str(e) and "status 1" in str(e)
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.message, e2.status, e2.status_name) == (e.message, e.status, e.status_name)
    # Python-side rejections are usmoe.Error too.
    with pytest.raises(usmoe.Error) as ei:
        usmoe.Router(np.zeros((4, 4), np.float64))
    assert ei.value.status == usmoe.STATUS_INVALID_ARGUMENT


W = np.eye(4, 6, dtype=np.float32)
X = np.arange(18, dtype=np.float32).reshape(3, 6) / 10


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(policy="topk"), r"policy = 'topk': expected one of 'unified', 'token_choice'"),
    (dict(policy="UNIFIED"), r"policy"),
    (dict(policy=2), r"policy"),
    (dict(expert_score="softmax"), r"expert_score"),
    (dict(gate_norm="sum"), r"gate_norm"),
    (dict(dtype="float16"), r"dtype"),
    (dict(k="two"), r"k = 'two': expected a number"),
    (dict(alpha=None, k=None), r"k = None"),
])
def test_router_python_side_errors(kwargs, pattern):
    with pytest.raises(usmoe.Error, match=pattern):
        usmoe.Router(W, **kwargs)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(policy="token_choice", k=1.5), r"usmoe_router_create: config->k = 1.5 is fractional"),
    (dict(policy="token_choice", k=0), r"config->k = 0"),
    (dict(policy="token_choice", k=5), r"config->k = 5"),
    (dict(policy="unified", k=4.5), r"config->k = 4.5"),
    (dict(policy="unified", k=-1), r"config->k = -1"),
    (dict(policy="unified", k=float("nan"), alpha=0.5), r"config->k"),
    (dict(policy="expert_choice", k=0), r"config->k = 0"),
    (dict(policy="expert_choice", k=2, capacity_factor=0), r"config->capacity_factor"),
    (dict(policy="expert_choice", k=2, capacity_factor=float("inf")), r"capacity_factor"),
    (dict(k=2, alpha=1.5), r"usmoe_router_create: config->alpha = 1.5, expected in \[0, 1\]"),
    (dict(k=2, alpha=-0.1), r"config->alpha"),
    (dict(k=2, alpha=float("nan")), r"config->alpha"),
])
def test_router_c_side_errors_carry_c_message(kwargs, pattern):
    with pytest.raises(usmoe.Error, match=pattern) as ei:
        usmoe.Router(W, **kwargs)
    assert ei.value.status == usmoe.STATUS_INVALID_ARGUMENT
    assert ei.value.message.startswith("usmoe_router_create")


def test_router_array_errors():
    with pytest.raises(usmoe.Error, match=r"gate_weight: expected dtype float32, got float64"):
        usmoe.Router(W.astype(np.float64), k=2)
    with pytest.raises(usmoe.Error, match=r"gate_weight: expected dtype float32, got int64"):
        usmoe.Router(np.eye(4, dtype=np.int64), k=2)
    with pytest.raises(usmoe.Error, match=r"gate_weight: expected a 2-D array"):
        usmoe.Router(W.reshape(-1), k=2)
    with pytest.raises(usmoe.Error, match=r"gate_weight: expected a 2-D array"):
        usmoe.Router(W[None], k=2)
    with pytest.raises(usmoe.Error, match=r"uint16 bit patterns"):
        usmoe.Router(W.astype(np.float16), k=2, dtype="bfloat16")
    with pytest.raises(usmoe.Error, match=r"num_experts|dim"):
        usmoe.Router(np.zeros((0, 6), np.float32), k=0)
    bad = W.copy()
    bad[2, 3] = np.nan
    with pytest.raises(usmoe.Error) as ei:
        usmoe.Router(bad, k=2)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT
    assert "usmoe_router_create" in ei.value.message
    assert "2" in ei.value.message and "3" in ei.value.message
    bad[2, 3] = np.inf
    with pytest.raises(usmoe.Error, match="gate_weight"):
        usmoe.Router(bad, k=2)


def test_route_errors():
    r = usmoe.Router(W, k=2)
    with pytest.raises(usmoe.Error, match=r"x: expected dtype float32, got float64"):
        r.route(X.astype(np.float64))
    with pytest.raises(usmoe.Error, match=r"x: expected shape \(\?, 6\), got \(3, 5\)"):
        r.route(X[:, :5])
    with pytest.raises(usmoe.Error, match=r"x: expected a 2-D array"):
        r.route(X[0])
    with pytest.raises(usmoe.Error, match=r"usmoe_route: .*num_tokens"):
        r.route(np.zeros((0, 6), np.float32))
    with pytest.raises(usmoe.Error, match=r"usmoe_route: .*group"):
        r.route(X, group_sizes=[1, 1])            # sums to 2, T = 3
    with pytest.raises(usmoe.Error, match=r"usmoe_route: .*group"):
        r.route(X, group_sizes=[4, -1])
    with pytest.raises(usmoe.Error, match=r"group_sizes: expected integers"):
        r.route(X, group_sizes=[1.5, 1.5])
    with pytest.raises(usmoe.Error, match=r"group_sizes: expected a 1-D"):
        r.route(X, group_sizes=[[3]])
    with pytest.raises(usmoe.Error, match=r"valid: expected shape \(3,\)"):
        r.route(X, valid=[True, False])
    with pytest.raises(usmoe.Error, match=r"valid: expected a bool or integer mask"):
        r.route(X, valid=np.ones(3, np.float32))
    nan = X.copy()
    nan[1, 4] = np.nan
    with pytest.raises(usmoe.Error) as ei:
        r.route(nan)
    e = ei.value
    assert e.status == usmoe.STATUS_NON_FINITE_INPUT and e.status_name == "non-finite input"
    assert e.message.startswith("usmoe_route")
    assert "token 1" in e.message and "feature 4" in e.message
    inf = X.copy()
    inf[2, 0] = -np.inf
    with pytest.raises(usmoe.Error, match="token 2"):
        r.route(inf)
    # Finite x whose logits overflow to Inf.
    big = usmoe.Router(np.full((4, 6), 1e30, np.float32), k=2)
    with pytest.raises(usmoe.Error, match=r"logits") as ei:
        big.route(np.full((2, 6), 1e30, np.float32))
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT


# ------------------------------------------------------------------ handles

def test_router_lifetime():
    with usmoe.Router(W, k=2) as r:
        assert not r.closed
        plan = r.route(X)
    assert r.closed
    r.close()                                  # idempotent
    with pytest.raises(usmoe.Error, match="closed"):
        r.route(X)
    with pytest.raises(usmoe.Error, match="closed"):
        r.config
    assert "closed" in repr(r)
    assert plan.num_tokens == 3               # plans outlive their router


def test_plan_lifetime():
    r = usmoe.Router(W, k=2)
    with r.route(X) as plan:
        assert not plan.closed
    assert plan.closed
    plan.close()
    assert plan.token_ids.shape == (6,)        # arrays survive close()
    assert "closed" in repr(plan)
    with pytest.raises(usmoe.Error, match="plan is closed"):
        plan._live_handle()


def test_handles_freed_by_gc():
    r = usmoe.Router(W, k=2)
    p = r.route(X)
    fr, fp = r._finalizer, p._finalizer
    assert fr.alive and fp.alive
    del r, p
    gc.collect()
    assert not fr.alive and not fp.alive
    for _ in range(2000):                      # no leak or crash churning handles
        usmoe.Router(W, k=2).route(X)


# ------------------------------------------------------------ array checks

def test_fitting_arrays_are_not_copied():
    a = np.zeros((3, 4), np.float32)
    assert _arrays.check_input("a", a, np.float32, (None, 4)) is a
    f = np.asfortranarray(a)
    c = _arrays.check_input("a", f, np.float32, (None, 4))
    assert c is not f and c.flags.c_contiguous
    out = np.zeros((3, 4), np.float32)
    assert _arrays.check_output("out", out, np.float32, (3, 4)) is out
    m = np.ones(3, bool)
    v = _arrays.check_valid(m, 3)
    assert v.dtype == np.uint8 and np.shares_memory(v, m)


def test_scalar_argument_checks():
    with pytest.raises(usmoe.Error, match="expected an integer"):
        _arrays.as_int("k", 2.5)
    with pytest.raises(usmoe.Error, match="expected an integer"):
        _arrays.as_int("k", True)
    assert _arrays.as_int("k", np.int32(3)) == 3
    with pytest.raises(usmoe.Error, match="expected a number"):
        _arrays.as_float("alpha", "x")


# ----------------------------------------------------------------- kernels

def test_logits(rng):
    x = rng.standard_normal((19, 33)).astype(np.float32)
    w = rng.standard_normal((7, 33)).astype(np.float32)
    L = usmoe.logits(x, w)
    assert L.shape == (19, 7) and L.dtype == np.float32
    np.testing.assert_allclose(L, x.astype(np.float64) @ w.astype(np.float64).T,
                               rtol=1e-5, atol=1e-5)
    out = np.empty((19, 7), np.float32)
    assert usmoe.logits(x, w, out=out) is out
    np.testing.assert_array_equal(out, L)
    xb, wb = usmoe.to_bfloat16(x), usmoe.to_bfloat16(w)
    Lb = usmoe.logits(xb, wb)
    ref = usmoe.from_bfloat16(xb).astype(np.float64) @ usmoe.from_bfloat16(wb).astype(
        np.float64).T
    np.testing.assert_allclose(Lb, ref, rtol=1e-5, atol=1e-5)


def test_logits_errors(rng):
    x = rng.standard_normal((4, 8)).astype(np.float32)
    w = rng.standard_normal((3, 8)).astype(np.float32)
    with pytest.raises(usmoe.Error, match=r"w: expected shape \(\?, 8\)"):
        usmoe.logits(x, w[:, :7])
    with pytest.raises(usmoe.Error, match=r"w: expected dtype uint16"):
        usmoe.logits(usmoe.to_bfloat16(x), w)
    with pytest.raises(usmoe.Error, match=r"x: expected dtype float32"):
        usmoe.logits(x.astype(np.float64), w)
    with pytest.raises(usmoe.Error, match=r"out: must be C-contiguous"):
        usmoe.logits(x, w, out=np.empty((3, 4), np.float32).T)
    with pytest.raises(usmoe.Error, match=r"out: expected shape \(4, 3\)"):
        usmoe.logits(x, w, out=np.empty((4, 4), np.float32))
    with pytest.raises(usmoe.Error, match=r"out: expected dtype float32"):
        usmoe.logits(x, w, out=np.empty((4, 3), np.float64))
    ro = np.empty((4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(usmoe.Error, match=r"out: is read-only"):
        usmoe.logits(x, w, out=ro)
    with pytest.raises(usmoe.Error, match=r"out: expected a numpy array"):
        usmoe.logits(x, w, out=[0.0])
    x[2, 5] = np.nan
    with pytest.raises(usmoe.Error, match=r"usmoe_logits") as ei:
        usmoe.logits(x, w)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT


def _ref_scores(L, alpha, es, groups=None, valid=None):
    # Imported lazily so that test_api does not depend on test_routing's import.
    from test_routing import ref_scores
    return ref_scores(L, alpha, es, groups, valid)


@pytest.mark.parametrize("es", ["sigmoid", "softmax_tokens"])
def test_scores(rng, es):
    L = rng.standard_normal((21, 6)).astype(np.float32) * 3
    groups = [7, 0, 14]
    valid = rng.random(21) > 0.25
    for alpha in (0.0, 0.5, 1.0):
        S = usmoe.scores(L, alpha=alpha, expert_score=es, group_sizes=groups, valid=valid)
        assert S.shape == (21, 6) and S.dtype == np.float32
        ref = _ref_scores(L, alpha, es, groups, valid)
        np.testing.assert_allclose(S[valid], ref[valid], rtol=1e-5, atol=1e-9)
        if es == "softmax_tokens":
            ft = _ref_scores(L, 0.0, es)
            np.testing.assert_allclose(S[~valid], (1 - alpha) * ft[~valid], rtol=1e-5,
                                       atol=1e-9)
    out = np.empty_like(L)
    assert usmoe.scores(L, out=out) is out
    np.testing.assert_allclose(out, _ref_scores(L, 0.5, "sigmoid"), rtol=1e-5)


def test_scores_errors():
    L = np.zeros((3, 4), np.float32)
    with pytest.raises(usmoe.Error, match=r"usmoe_scores: .*alpha"):
        usmoe.scores(L, alpha=2.0)
    with pytest.raises(usmoe.Error, match=r"expert_score"):
        usmoe.scores(L, expert_score="tanh")
    with pytest.raises(usmoe.Error, match=r"usmoe_scores: .*group"):
        usmoe.scores(L, group_sizes=[1, 1])
    with pytest.raises(usmoe.Error, match=r"logits: expected a 2-D"):
        usmoe.scores(L[0])
    L[1, 1] = np.inf
    with pytest.raises(usmoe.Error, match=r"usmoe_scores") as ei:
        usmoe.scores(L)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT


def _ties_matrix(rng, T, N):
    return (rng.integers(0, 4, size=(T, N)) / 4).astype(np.float32)


@pytest.mark.parametrize("T", [1, 5, 15, 16, 17, 40, 100])
def test_topk_rows(rng, T):
    N = 8
    for S in (rng.random((T, N)).astype(np.float32), _ties_matrix(rng, T, N)):
        for k in (1, 2, 3, N):
            ids, vals = usmoe.topk_rows(S, k)
            assert ids.shape == (T, k) and ids.dtype == np.int64 and vals.dtype == np.float32
            ref = np.argsort(-S, axis=1, kind="stable")[:, :k]
            np.testing.assert_array_equal(ids, ref, err_msg=f"k={k}")
            np.testing.assert_array_equal(vals, np.take_along_axis(S, ref, axis=1))


def test_topk_rows_errors():
    S = np.zeros((3, 4), np.float32)
    with pytest.raises(usmoe.Error, match=r"usmoe_topk_rows: .*k"):
        usmoe.topk_rows(S, 5)
    with pytest.raises(usmoe.Error, match=r"usmoe_topk_rows: .*k"):
        usmoe.topk_rows(S, 0)
    with pytest.raises(usmoe.Error, match=r"k = 1.5: expected an integer"):
        usmoe.topk_rows(S, 1.5)
    with pytest.raises(usmoe.Error, match=r"scores: expected dtype float32"):
        usmoe.topk_rows(S.astype(np.float64), 1)
    S[2, 1] = np.nan
    with pytest.raises(usmoe.Error) as ei:
        usmoe.topk_rows(S, 1)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT


@pytest.mark.parametrize("T", [1, 7, 16, 33, 200])
def test_topc_cols(rng, T):
    N = 5
    for S in (rng.random((T, N)).astype(np.float32), _ties_matrix(rng, T, N)):
        for C in sorted({1, min(3, T), T}):
            ids, vals = usmoe.topc_cols(S, C)
            assert ids.shape == (N, C)
            ref = np.argsort(-S, axis=0, kind="stable")[:C].T
            np.testing.assert_array_equal(ids, ref, err_msg=f"C={C}")
            np.testing.assert_array_equal(vals, S[ref, np.arange(N)[:, None]])


def test_topc_cols_errors():
    S = np.zeros((3, 4), np.float32)
    with pytest.raises(usmoe.Error, match=r"usmoe_topc_cols"):
        usmoe.topc_cols(S, 4)
    with pytest.raises(usmoe.Error, match=r"usmoe_topc_cols"):
        usmoe.topc_cols(S, 0)
    with pytest.raises(usmoe.Error, match=r"capacity"):
        usmoe.topc_cols(S, "2")
    S[0, 0] = np.nan
    with pytest.raises(usmoe.Error) as ei:
        usmoe.topc_cols(S, 1)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT


@pytest.mark.parametrize("n", [1, 10, 1000, 70000])
def test_topc_global(rng, n):
    for v in (rng.standard_normal(n).astype(np.float32),
              (rng.integers(0, 5, size=n) / 5).astype(np.float32)):
        for c in sorted({0, 1, n // 3, n // 2 + 1, n}):
            idx = usmoe.topc_global(v, c)
            assert idx.dtype == np.int64 and idx.shape == (c,)
            ref = np.sort(np.argsort(-v, kind="stable")[:c])
            np.testing.assert_array_equal(idx, ref, err_msg=f"c={c}")


def test_topc_global_special_values():
    v = np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -0.0, 0.0, 1.0], np.float32)
    np.testing.assert_array_equal(usmoe.topc_global(v, 1), [2])
    np.testing.assert_array_equal(usmoe.topc_global(v, 3), [2, 4, 7])
    # -0.0 equals +0.0: the lowest indices among the zeros win.
    np.testing.assert_array_equal(usmoe.topc_global(v, 5), [0, 1, 2, 4, 7])
    np.testing.assert_array_equal(usmoe.topc_global(v, 7), [0, 1, 2, 4, 5, 6, 7])
    np.testing.assert_array_equal(usmoe.topc_global(v, 8), np.arange(8))
    # Any shape, read in C order.
    m = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(usmoe.topc_global(m, 2), [10, 11])
    np.testing.assert_array_equal(usmoe.topc_global(m.T, 2), [8, 11])  # 10 and 11


def test_topc_global_errors():
    v = np.zeros(5, np.float32)
    with pytest.raises(usmoe.Error, match=r"usmoe_topc_global"):
        usmoe.topc_global(v, 6)
    with pytest.raises(usmoe.Error, match=r"usmoe_topc_global"):
        usmoe.topc_global(v, -1)
    with pytest.raises(usmoe.Error, match=r"values: expected dtype float32"):
        usmoe.topc_global(v.astype(np.float64), 1)
    v[3] = np.nan
    with pytest.raises(usmoe.Error) as ei:
        usmoe.topc_global(v, 1)
    assert ei.value.status == usmoe.STATUS_NON_FINITE_INPUT
    assert "usmoe_topc_global" in ei.value.message


# ------------------------------------------------------- threads and SIMD

def test_threads():
    usmoe.set_num_threads(1)
    assert usmoe.get_num_threads() == 1
    usmoe.set_num_threads(3)
    assert usmoe.get_num_threads() == 3
    usmoe.set_num_threads(0)
    assert usmoe.get_num_threads() >= 1
    for bad in (-1, 4097):
        with pytest.raises(usmoe.Error, match=r"usmoe_set_num_threads"):
            usmoe.set_num_threads(bad)
    with pytest.raises(usmoe.Error, match="expected an integer"):
        usmoe.set_num_threads(1.5)


def test_simd_targets():
    mask = usmoe.supported_targets()
    assert mask > 0 or mask < 0                 # at least one target
    bits = usmoe.target_bits()
    assert bits and all(b & (mask % (1 << 64)) for b in bits)
    default = usmoe.simd_target_name()
    assert isinstance(default, str) and default
    names = []
    for b in bits:
        usmoe.set_simd_targets(b)
        names.append(usmoe.simd_target_name())
        assert usmoe.supported_targets() == mask   # forcing does not shrink the set
    assert default in names
    assert len(set(names)) == len(names)
    usmoe.set_simd_targets(0)
    assert usmoe.simd_target_name() == default
    unsupported = next(1 << i for i in range(62) if not (mask >> i) & 1)
    with pytest.raises(usmoe.Error, match=r"usmoe_simd_set_targets"):
        usmoe.set_simd_targets(unsupported)
    assert usmoe.simd_target_name() == default
    with pytest.raises(usmoe.Error, match="64 bits"):
        usmoe.set_simd_targets(1 << 70)
    assert usmoe.target_bits(0b1010) == [2, 8]


# --------------------------------------------------------------------- bf16

def test_to_bfloat16_round_to_nearest_even():
    cases = [                     # a list: 0.0 and -0.0 are equal dict keys
        (5.7, 0x40B6),            # 5.6875, as torch's .bfloat16()
        (1.0, 0x3F80),
        (1.00390625, 0x3F80),     # halfway between 0x3F80 and 0x3F81: even
        (1.01171875, 0x3F82),     # halfway between 0x3F81 and 0x3F82: even
        (1.0078125, 0x3F81),      # exact
        (-2.5, 0xC020),
        (0.0, 0x0000),
        (-0.0, 0x8000),
        (float("inf"), 0x7F80),
        (float("-inf"), 0xFF80),
        (3.4028234663852886e38, 0x7F80),   # FLT_MAX rounds up to Inf
        (1e-40, 0x0001),          # subnormal
    ]
    src = np.array([c[0] for c in cases], np.float32)
    got = usmoe.to_bfloat16(src)
    assert got.dtype == np.uint16 and got.shape == src.shape
    np.testing.assert_array_equal(got, np.array([c[1] for c in cases], np.uint16))
    nan = usmoe.to_bfloat16(np.array([np.nan, -np.nan], np.float32))
    assert np.isnan(usmoe.from_bfloat16(nan)).all()


def test_to_bfloat16_is_nearest(rng):
    x = (rng.standard_normal(20000) * np.exp(rng.uniform(-30, 30, 20000))).astype(np.float32)
    b = usmoe.to_bfloat16(x)
    # Independent check: the two bf16 neighbours by truncation, in float64.
    lo = (x.view(np.uint32) >> 16).astype(np.uint16)
    hi = lo + np.uint16(1)
    dlo = np.abs(usmoe.from_bfloat16(lo).astype(np.float64) - x)
    dhi = np.abs(usmoe.from_bfloat16(hi).astype(np.float64) - x)
    want = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    np.testing.assert_array_equal(b, want)
    # bf16 values round-trip exactly; shapes are kept.
    v = usmoe.from_bfloat16(b.reshape(100, 200))
    assert v.shape == (100, 200) and v.dtype == np.float32
    np.testing.assert_array_equal(usmoe.to_bfloat16(v), b.reshape(100, 200))
    # Non-contiguous and float64 input.
    np.testing.assert_array_equal(usmoe.to_bfloat16(x.astype(np.float64)[::2]), b[::2])


def test_bfloat16_errors():
    with pytest.raises(usmoe.Error, match="uint16"):
        usmoe.from_bfloat16(np.zeros(3, np.float32))
    with pytest.raises(usmoe.Error, match="float"):
        usmoe.to_bfloat16(np.array(["a"]))


def test_public_names_documented():
    for name in usmoe.__all__:
        obj = getattr(usmoe, name)
        if callable(obj):
            assert obj.__doc__, name
    for cls in (usmoe.Router, usmoe.Plan, usmoe.Experts):
        for attr, member in vars(cls).items():
            if not attr.startswith("_"):
                assert member.__doc__, f"{cls.__name__}.{attr}"
