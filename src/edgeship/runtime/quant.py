"""Affine (de)quantization of model inputs and outputs: ``real = (q - zero_point) * scale``."""

from __future__ import annotations

import numpy as np

from edgeship.errors import InvalidInputError

_FLOAT_KINDS = "fc"


def int_range(dtype: np.dtype) -> tuple[int, int]:
    """Return the smallest and largest value of an integer dtype."""
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Quantize real values to ``dtype`` with round-half-to-even and saturation.

    Args:
        x: real values (any float or integer array).
        scale: quantization scale (> 0).
        zero_point: integer zero point.
        dtype: target integer dtype (int8, uint8, int16...).

    Returns:
        A C-contiguous array of ``dtype``. Infinities saturate to the dtype's range.

    Raises:
        InvalidInputError: ``x`` holds NaN, which has no integer value (the cast would give an
            arbitrary one, and the model a confident answer to nothing).
    """
    lo, hi = int_range(dtype)
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    q += np.float32(zero_point)
    np.clip(q, lo, hi, out=q)
    if np.isnan(q.sum()):  # one pass: NaN survives rint and clip; everything else is bounded
        raise InvalidInputError(
            f"the input holds {int(np.isnan(q).sum())} NaN value(s), which an integer "
            f"({np.dtype(dtype)}) model input cannot represent. Replace or drop them first."
        )
    return np.ascontiguousarray(q, dtype=dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Return ``(q - zero_point) * scale`` as float32."""
    out = q.astype(np.float32)
    out -= np.float32(zero_point)
    out *= np.float32(scale)
    return out


def check_int_range(x: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
    """Cast integer values to ``dtype``, refusing values it cannot hold.

    Raises:
        InvalidInputError: when a value falls outside the dtype's range or is not whole.
    """
    lo, hi = int_range(dtype)
    if x.size:
        mn, mx = x.min(), x.max()
        if mn < lo or mx > hi:
            raise InvalidInputError(
                f"{what} holds values in [{mn}, {mx}], outside the {np.dtype(dtype).name} "
                f"range [{lo}, {hi}]. Pass values in range, or float values for a model with "
                "quantization parameters."
            )
        if x.dtype.kind in _FLOAT_KINDS and not np.all(np.isfinite(x) & (x == np.rint(x))):
            raise InvalidInputError(
                f"{what} takes raw {np.dtype(dtype).name} values (the model gives no "
                "quantization parameters), got non-integer floats. Pass whole numbers."
            )
    return np.ascontiguousarray(x, dtype=dtype)
