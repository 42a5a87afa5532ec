"""usmoe: CPU kernels for sparse Mixture-of-Experts routing, from Python.

Thin ctypes + NumPy bindings over the C ABI of libusmoe (no compiled
extension). Implements the routing of "Unified Sparse Mixture of Experts"
(Do, Le, Tran; arXiv 2503.22996): the unified score and the unified
mechanism (global top-c per group, fractional k), beside Token Choice and
Expert Choice, plus a grouped-GEMM expert executor.

Quick start::

    import numpy as np, usmoe
    rng = np.random.default_rng(0)
    W = rng.standard_normal((8, 16), dtype=np.float32)        # N=8 experts, d=16
    x = rng.standard_normal((32, 16), dtype=np.float32)       # T=32 tokens
    router = usmoe.Router(W, policy="unified", k=1.5)         # 1.5 experts/token on average
    plan = router.route(x)
    print(plan.expert_loads, plan.num_selected)               # num_selected == 48

Objects: ``Router`` (-> ``Plan``), ``Experts``. Kernel stages: ``logits``,
``scores``, ``topk_rows``, ``topc_cols``, ``topc_global``. Runtime:
``set_num_threads``/``get_num_threads``, ``supported_targets``/
``set_simd_targets``/``simd_target_name``. bf16: ``to_bfloat16``,
``from_bfloat16``. Every failure raises ``usmoe.Error`` (a ``ValueError``)
carrying the C library's message.

The library is found via ``$USMOE_LIBRARY``, then next to this package, then
the source checkout's ``build*/`` trees, then the system path; see
``usmoe.library_path`` for the one loaded.
"""

from ._errors import (
    Error, STATUS_BUFFER_TOO_SMALL, STATUS_INTERNAL_ERROR, STATUS_INVALID_ARGUMENT,
    STATUS_NON_FINITE_INPUT, STATUS_OUT_OF_MEMORY, STATUS_SUCCESS, STATUS_UNSUPPORTED)
from ._capi import (
    ACTIVATION_GELU_ERF, ACTIVATION_GELU_TANH, ACTIVATION_RELU, ACTIVATION_SWIGLU,
    BACKEND_AUTO, BACKEND_HIGHWAY, BACKEND_ONEDNN, DTYPE_BF16, DTYPE_F32, EXPERT_SCORE_SIGMOID, EXPERT_SCORE_SOFTMAX_TOKENS,
    GATE_NORM_ALL, GATE_NORM_NONE, GATE_NORM_SELECTED, POLICY_EXPERT_CHOICE,
    POLICY_TOKEN_CHOICE, POLICY_UNIFIED, VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH,
    library_path, library_version, library_version_number)
from ._capi import status_string
from .routing import Plan, Router
from .experts import Experts
from .kernels import (
    get_num_threads, logits, scores, set_num_threads, set_simd_targets, simd_target_name,
    supported_targets, target_bits, topc_cols, topc_global, topk_rows)
from .bfloat16 import from_bfloat16, to_bfloat16

#: The version of the loaded C library (``usmoe_version()``), "MAJOR.MINOR.PATCH".
__version__ = "%d.%d.%d" % library_version

__all__ = [
    "Error", "Router", "Plan", "Experts",
    "logits", "scores", "topk_rows", "topc_cols", "topc_global",
    "set_num_threads", "get_num_threads",
    "supported_targets", "set_simd_targets", "simd_target_name", "target_bits",
    "to_bfloat16", "from_bfloat16", "status_string",
    "library_path", "library_version", "library_version_number", "__version__",
    "VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH",
    "STATUS_SUCCESS", "STATUS_INVALID_ARGUMENT", "STATUS_NON_FINITE_INPUT",
    "STATUS_BUFFER_TOO_SMALL", "STATUS_OUT_OF_MEMORY", "STATUS_UNSUPPORTED",
    "STATUS_INTERNAL_ERROR",
    "DTYPE_F32", "DTYPE_BF16", "POLICY_TOKEN_CHOICE", "POLICY_EXPERT_CHOICE",
    "POLICY_UNIFIED", "EXPERT_SCORE_SIGMOID", "EXPERT_SCORE_SOFTMAX_TOKENS",
    "GATE_NORM_NONE", "GATE_NORM_SELECTED", "GATE_NORM_ALL",
    "ACTIVATION_SWIGLU", "ACTIVATION_GELU_TANH", "ACTIVATION_GELU_ERF", "ACTIVATION_RELU",
    "BACKEND_AUTO", "BACKEND_HIGHWAY", "BACKEND_ONEDNN",
]
