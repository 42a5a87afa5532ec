"""bfloat16 helpers: usmoe passes bf16 values as uint16 bit patterns."""

import numpy as np

from ._errors import Error

__all__ = ["to_bfloat16", "from_bfloat16"]


def to_bfloat16(a):
    """Rounds float32 values to bfloat16, round-to-nearest-even.

    Args:
        a: array-like of float32 (other float dtypes are first converted to
            float32).

    Returns:
        A new uint16 array of the same shape holding the bf16 bit patterns
        (the upper half of the rounded f32). NaN stays NaN (quiet), ±Inf
        stays ±Inf, values that round past the largest bf16 become ±Inf (as
        in PyTorch's ``tensor.bfloat16()``).
    """
    x = np.asarray(a)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise Error(f"to_bfloat16: expected a float array, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = ((u[nan] >> 16) | 0x0040).astype(np.uint16)
    return out


def from_bfloat16(bits):
    """Widens uint16 bf16 bit patterns to float32 (exact)."""
    b = np.asarray(bits)
    if b.dtype != np.uint16:
        raise Error(f"from_bfloat16: expected uint16 bit patterns, got dtype {b.dtype}")
    return (b.astype(np.uint32) << 16).view(np.float32)
