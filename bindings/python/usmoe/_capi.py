"""Loading libusmoe and declaring its C ABI for ctypes.

Library lookup, in this order:

1. ``$USMOE_LIBRARY``: the path of a ``libusmoe.so``. When this variable is
   set it is the *only* place tried, so that an explicit choice never falls
   back silently to another copy of the library.
2. ``libusmoe.so*`` next to this package (a wheel or a local install that
   bundled the library).
3. The CMake build trees of the source checkout this package lives in:
   ``<repo>/build*/libusmoe.so`` (``<repo>`` being three directories above
   the package directory, i.e. ``bindings/python/usmoe/../../..``); the most
   recently modified one wins.
4. ``ctypes.util.find_library("usmoe")`` (the system's library path).

If none loads, ``import usmoe`` raises ``ImportError`` listing every place
tried and why each failed.

Every C function returns an ``int32_t`` status; sizes are ``int64_t``. The
argtypes below follow usmoe.h exactly.
"""

import ctypes
import ctypes.util
import glob
import os

from ._errors import Error, STATUS_SUCCESS

# Mirrors of the version macros of the usmoe.h these bindings were written
# against. A library with another MAJOR version is refused at import.
VERSION_MAJOR = 0
VERSION_MINOR = 2
VERSION_PATCH = 0

# Mirrors of the enum macros of usmoe.h (the tests compare them with the
# header).
DTYPE_F32 = 0
DTYPE_BF16 = 1
POLICY_TOKEN_CHOICE = 0
POLICY_EXPERT_CHOICE = 1
POLICY_UNIFIED = 2
EXPERT_SCORE_SIGMOID = 0
EXPERT_SCORE_SOFTMAX_TOKENS = 1
GATE_NORM_NONE = 0
GATE_NORM_SELECTED = 1
GATE_NORM_ALL = 2
ACTIVATION_SWIGLU = 0
ACTIVATION_GELU_TANH = 1
ACTIVATION_GELU_ERF = 2
ACTIVATION_RELU = 3
BACKEND_AUTO = 0
BACKEND_HIGHWAY = 1
BACKEND_ONEDNN = 2

_c_status = ctypes.c_int32
_i64 = ctypes.c_int64
_i32 = ctypes.c_int32
_p_i64 = ctypes.POINTER(ctypes.c_int64)
_p_f32 = ctypes.POINTER(ctypes.c_float)
_p_u8 = ctypes.POINTER(ctypes.c_uint8)
_vp = ctypes.c_void_p


class RouterConfig(ctypes.Structure):
    """ctypes mirror of ``usmoe_router_config``."""

    _fields_ = [
        ("struct_size", ctypes.c_int64),
        ("num_experts", ctypes.c_int64),
        ("dim", ctypes.c_int64),
        ("policy", ctypes.c_int32),
        ("dtype", ctypes.c_int32),
        ("k", ctypes.c_double),
        ("alpha", ctypes.c_double),
        ("capacity_factor", ctypes.c_double),
        ("expert_score", ctypes.c_int32),
        ("gate_norm", ctypes.c_int32),
        ("keep_scores", ctypes.c_int32),
        ("token_view", ctypes.c_int32),
    ]


class PlanView(ctypes.Structure):
    """ctypes mirror of ``usmoe_plan_view``."""

    _fields_ = [
        ("struct_size", ctypes.c_int64),
        ("num_tokens", ctypes.c_int64),
        ("num_experts", ctypes.c_int64),
        ("num_selected", ctypes.c_int64),
        ("expert_offsets", _p_i64),
        ("token_ids", _p_i64),
        ("weights", _p_f32),
        ("token_counts", _p_i64),
        ("expert_loads", _p_i64),
        ("scores", _p_f32),
        ("token_offsets", _p_i64),
        ("token_experts", _p_i64),
        ("token_weights", _p_f32),
    ]


class ExpertsConfig(ctypes.Structure):
    """ctypes mirror of ``usmoe_experts_config``."""

    _fields_ = [
        ("struct_size", ctypes.c_int64),
        ("num_experts", ctypes.c_int64),
        ("dim", ctypes.c_int64),
        ("hidden", ctypes.c_int64),
        ("activation", ctypes.c_int32),
        ("dtype", ctypes.c_int32),
        ("num_shared", ctypes.c_int64),
        ("shared_hidden", ctypes.c_int64),
        ("backend", ctypes.c_int32),
    ]


# Opaque handles are passed as void*.
_p_router = _vp
_p_plan = _vp
_p_experts = _vp

# name: (restype, argtypes)
_SIGNATURES = {
    "usmoe_version": (_i32, []),
    "usmoe_status_string": (ctypes.c_char_p, [_c_status]),
    "usmoe_last_error": (ctypes.c_char_p, []),
    "usmoe_set_num_threads": (_c_status, [_i32]),
    "usmoe_get_num_threads": (_c_status, [ctypes.POINTER(_i32)]),
    "usmoe_simd_supported_targets": (_c_status, [_p_i64]),
    "usmoe_simd_set_targets": (_c_status, [_i64]),
    "usmoe_simd_target_name": (_c_status, [ctypes.POINTER(ctypes.c_char_p)]),
    "usmoe_plan_create": (_c_status, [ctypes.POINTER(_p_plan)]),
    "usmoe_plan_destroy": (None, [_p_plan]),
    "usmoe_plan_get_view": (_c_status, [_p_plan, ctypes.POINTER(PlanView)]),
    "usmoe_router_config_init": (_c_status, [ctypes.POINTER(RouterConfig), _i32]),
    "usmoe_router_create": (_c_status, [ctypes.POINTER(RouterConfig), _vp,
                                        ctypes.POINTER(_p_router)]),
    "usmoe_router_destroy": (None, [_p_router]),
    "usmoe_router_get_config": (_c_status, [_p_router, ctypes.POINTER(RouterConfig)]),
    "usmoe_route": (_c_status, [_p_router, _vp, _i64, _p_i64, _i64, _p_u8, _p_plan]),
    "usmoe_experts_config_init": (_c_status, [ctypes.POINTER(ExpertsConfig)]),
    "usmoe_experts_create": (_c_status, [ctypes.POINTER(ExpertsConfig), _vp, _vp, _vp,
                                         _vp, _vp, _vp, ctypes.POINTER(_p_experts)]),
    "usmoe_experts_destroy": (None, [_p_experts]),
    "usmoe_experts_forward": (_c_status, [_p_experts, _p_f32, _i64, _p_plan, _p_f32]),
    "usmoe_logits": (_c_status, [_vp, _vp, _i32, _i64, _i64, _i64, _p_f32]),
    "usmoe_scores": (_c_status, [_p_f32, _i64, _i64, ctypes.c_double, _i32, _p_i64, _i64,
                                 _p_u8, _p_f32]),
    "usmoe_topk_rows": (_c_status, [_p_f32, _i64, _i64, _i64, _p_i64, _p_f32]),
    "usmoe_topc_cols": (_c_status, [_p_f32, _i64, _i64, _i64, _p_i64, _p_f32]),
    "usmoe_topc_global": (_c_status, [_p_f32, _i64, _i64, _p_i64, _i64]),
}


def _candidates():
    """Yields (description, path-or-name) pairs in lookup order."""
    env = os.environ.get("USMOE_LIBRARY")
    if env:
        yield ("$USMOE_LIBRARY", env)
        return
    pkg_dir = os.path.dirname(os.path.abspath(__file__))
    bundled = sorted(glob.glob(os.path.join(pkg_dir, "libusmoe.so*")),
                     key=lambda p: (len(os.path.basename(p)), p))
    if bundled:
        for p in bundled:
            yield ("next to the package", p)
    else:
        yield ("next to the package", os.path.join(pkg_dir, "libusmoe.so*"))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(pkg_dir)))
    pattern = os.path.join(repo, "build*", "libusmoe.so")
    built = [p for p in glob.glob(pattern) if os.path.exists(p)]
    built.sort(key=os.path.getmtime, reverse=True)
    if built:
        for p in built:
            yield ("build tree", p)
    else:
        yield ("build tree", pattern)
    found = ctypes.util.find_library("usmoe")
    yield ("ctypes.util.find_library('usmoe')", found)


def _load():
    tried = []
    for where, path in _candidates():
        if not path:
            tried.append(f"  {where}: not found")
            continue
        if "*" in path or (os.sep in path and not os.path.exists(path)):
            tried.append(f"  {where}: {path}: no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"  {where}: {path}: {e}")
            continue
        missing = [name for name in _SIGNATURES if not hasattr(lib, name)]
        if missing:
            tried.append(f"  {where}: {path}: lacks symbols {', '.join(missing)}")
            continue
        return lib, path
    raise ImportError(
        "usmoe: cannot load libusmoe. Build it (cmake --build build) or set "
        "USMOE_LIBRARY to the path of libusmoe.so. Places tried:\n" + "\n".join(tried))


lib, library_path = _load()
for _name, (_res, _args) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args

library_version_number = int(lib.usmoe_version())
library_version = (library_version_number // 10000,
                   (library_version_number // 100) % 100,
                   library_version_number % 100)
if library_version[0] != VERSION_MAJOR:
    raise ImportError(
        f"usmoe: {library_path} is version {'.'.join(map(str, library_version))}, but these "
        f"bindings were written for major version {VERSION_MAJOR} "
        f"({VERSION_MAJOR}.{VERSION_MINOR}.{VERSION_PATCH}); the ABI differs")


def status_string(status):
    """The C library's name of a status code (``usmoe_status_string``)."""
    return lib.usmoe_status_string(int(status)).decode("utf-8", "replace")


def last_error():
    """The message of the last failed usmoe call on this thread."""
    return lib.usmoe_last_error().decode("utf-8", "replace")


def check(status):
    """Raises usmoe.Error with the C message unless status is success."""
    if status != STATUS_SUCCESS:
        raise Error(last_error(), status, status_string(status))
