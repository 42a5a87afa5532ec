"""Argument checking for arrays passed to the C library.

Inputs: the dtype, the number of dimensions and the shape are checked
strictly (no silent casts: a float64 array is an error, not a copy). An
array that has the right dtype but is not C-contiguous or not aligned is
copied once (``np.require``); one that already fits is passed as is, with no
copy. Python lists and tuples are converted with ``np.asarray`` to the
expected dtype, except for bf16 bit patterns (a list of floats is not a list
of bit patterns).

Outputs (``out=`` arguments) must already have the exact dtype and shape and
be C-contiguous and writeable: they are written in place, never copied.
"""

import ctypes
import operator

import numpy as np

from ._capi import DTYPE_BF16, DTYPE_F32
from ._errors import Error

_DTYPE_NAMES = {"float32": DTYPE_F32, "bfloat16": DTYPE_BF16}
_STORAGE = {DTYPE_F32: np.dtype(np.float32), DTYPE_BF16: np.dtype(np.uint16)}


def parse_dtype(dtype):
    """Maps "float32" / "bfloat16" (or np.float32) to a usmoe_dtype code."""
    if isinstance(dtype, str) and dtype in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype]
    try:
        if np.dtype(dtype) == np.float32:
            return DTYPE_F32
    except TypeError:
        pass
    raise Error(f"dtype = {dtype!r}: expected 'float32' or 'bfloat16'")


def storage_dtype(code):
    """The numpy dtype that holds values of a usmoe_dtype (uint16 for bf16)."""
    return _STORAGE[code]


def parse_enum(argname, value, table):
    """Maps a string option to its C constant, with a message listing choices."""
    if isinstance(value, str) and value in table:
        return table[value]
    choices = ", ".join(repr(k) for k in table)
    raise Error(f"{argname} = {value!r}: expected one of {choices}")


def as_int(argname, value):
    """An integer argument (rejects floats such as 2.5, and bools)."""
    if isinstance(value, bool):
        raise Error(f"{argname} = {value!r}: expected an integer")
    try:
        return operator.index(value)
    except TypeError:
        raise Error(f"{argname} = {value!r}: expected an integer") from None


def as_float(argname, value):
    """A real-number argument, as a Python float."""
    if isinstance(value, bool):
        raise Error(f"{argname} = {value!r}: expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Error(f"{argname} = {value!r}: expected a number") from None


def _fmt_shape(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def check_input(argname, a, dtype, shape):
    """Returns `a` as a C-contiguous, aligned ndarray of `dtype` and `shape`.

    shape: a tuple whose entries are ints or None (any size). Raises Error
    naming `argname` on a wrong type, dtype, ndim or shape.
    """
    dtype = np.dtype(dtype)
    if not isinstance(a, np.ndarray):
        if isinstance(a, (list, tuple)) and dtype != np.uint16:
            try:
                a = np.asarray(a, dtype=dtype)
            except (TypeError, ValueError) as e:
                raise Error(f"{argname}: cannot convert to a {dtype} array: {e}") from None
        else:
            try:
                a = np.asarray(a)
            except Exception as e:  # noqa: BLE001 - any conversion failure
                raise Error(f"{argname}: expected a numpy array, got {type(a).__name__}: "
                            f"{e}") from None
    if a.dtype != dtype:
        hint = ""
        if dtype == np.uint16:
            hint = " (bfloat16 values are passed as uint16 bit patterns: use usmoe.to_bfloat16)"
        elif dtype == np.float32:
            hint = f" (convert with {argname}.astype(np.float32))"
        raise Error(f"{argname}: expected dtype {dtype.name}, got {a.dtype}{hint}")
    if a.ndim != len(shape):
        raise Error(f"{argname}: expected a {len(shape)}-D array of shape "
                    f"{_fmt_shape(shape)}, got {a.ndim}-D shape {a.shape}")
    for want, got in zip(shape, a.shape):
        if want is not None and want != got:
            raise Error(f"{argname}: expected shape {_fmt_shape(shape)}, got {a.shape}")
    if not (a.flags.c_contiguous and a.flags.aligned):
        a = np.require(a, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])
    return a


def check_output(argname, out, dtype, shape):
    """Validates an `out=` array (exact dtype/shape, C-contiguous, writeable),
    or allocates one when `out` is None."""
    dtype = np.dtype(dtype)
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise Error(f"{argname}: expected a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise Error(f"{argname}: expected dtype {dtype.name}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise Error(f"{argname}: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise Error(f"{argname}: must be C-contiguous (it is written in place)")
    if not out.flags.aligned:
        raise Error(f"{argname}: must be aligned (it is written in place)")
    if not out.flags.writeable:
        raise Error(f"{argname}: is read-only")
    return out


def check_groups(group_sizes):
    """group_sizes -> (int64 array or None, num_groups). None: one group."""
    if group_sizes is None:
        return None, 0
    g = check_input("group_sizes", group_sizes, np.int64, (None,)) \
        if isinstance(group_sizes, np.ndarray) and group_sizes.dtype == np.int64 \
        else _int_sizes(group_sizes)
    return g, int(g.shape[0])


def _int_sizes(group_sizes):
    a = np.asarray(group_sizes)
    if a.ndim != 1:
        raise Error(f"group_sizes: expected a 1-D sequence of sizes, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise Error(f"group_sizes: expected integers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64)


def check_valid(valid, num_tokens):
    """valid mask -> uint8 array of T bytes (nonzero = valid), or None."""
    if valid is None:
        return None
    a = np.asarray(valid)
    if a.ndim != 1 or a.shape[0] != num_tokens:
        raise Error(f"valid: expected shape ({num_tokens},), got {a.shape}")
    if a.dtype == np.bool_ or a.dtype == np.uint8:
        a = a.view(np.uint8) if a.dtype == np.bool_ else a
        return np.require(a, requirements=["C_CONTIGUOUS"])
    if np.issubdtype(a.dtype, np.integer):
        return (a != 0).astype(np.uint8)
    raise Error(f"valid: expected a bool or integer mask, got dtype {a.dtype}")


def ptr(a, ctype):
    """A typed ctypes pointer to the data of `a` (None for None)."""
    if a is None:
        return None
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def vptr(a):
    """A void* (int address) to the data of `a` (None for None)."""
    if a is None:
        return None
    return a.ctypes.data


def copy_out(p, count, dtype):
    """Copies `count` elements at ctypes pointer `p` into a new ndarray."""
    if count == 0:
        return np.empty(0, dtype=dtype)
    if not p:
        raise Error("internal: the plan returned a NULL array", 6)
    return np.ctypeslib.as_array(p, shape=(count,)).astype(dtype, copy=True)
