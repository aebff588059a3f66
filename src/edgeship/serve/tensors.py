"""Turning request data into checked numpy arrays, and arrays into response data.

Every check raises :class:`HttpError` 400 with a message naming the tensor, so a bad request
never reaches an interpreter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeship.serve.protocol import HttpError
from edgeship.serve.registry import ServedModel, TensorMeta

# KServe v2 datatype <-> numpy dtype (little-endian, as the binary extension requires).
V2_TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("bool"),
    "UINT8": np.dtype("uint8"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("int8"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
NUMPY_TO_V2: dict[Any, str] = {dt: name for name, dt in V2_TO_NUMPY.items()}
NUMPY_TO_V2.update({dt.name: name for name, dt in V2_TO_NUMPY.items()})
_FLOAT32 = np.dtype("float32")
QUANTIZED = ("int8", "uint8", "int16")
MAX_ELEMENTS = 1 << 27


def v2_datatype(dtype: str | np.dtype[Any]) -> str:
    """Return the KServe v2 datatype of a numpy dtype or its name (``"float32"`` -> ``"FP32"``)."""
    name = NUMPY_TO_V2.get(dtype)
    return name if name is not None else NUMPY_TO_V2.get(np.dtype(dtype).name, "BYTES")


def accepted_dtypes(meta: TensorMeta) -> tuple[np.dtype[Any], ...]:
    """Numpy dtypes a client may send for ``meta``: its own (float32 for a quantized input,
    which the server quantizes), the quantized input's stored integer type (passed as it is),
    and float32 for an integer type that quantized models use."""
    own = np.dtype(meta.dtype)
    if meta.quantization is not None:
        return (own, np.dtype(meta.quantization["dtype"]))
    return (own, _FLOAT32) if meta.dtype in QUANTIZED else (own,)


def check_shape(meta: TensorMeta, shape: Sequence[int], what: str = "input") -> None:
    """Check ``shape`` against the model's input shape (rank, fixed dims, non-empty batch)."""
    if len(shape) != len(meta.shape) or any(
        d != m for d, m in zip(shape[1:], meta.shape[1:], strict=True) if m >= 0
    ):
        want = "(" + ", ".join("N" if d < 0 else str(d) for d in meta.shape) + ")"
        raise HttpError(
            400,
            f"{what} '{meta.name}' expects shape {want}, got {tuple(shape)}. "
            "Send one row per sample, with a batch axis first.",
        )
    if any(d < 1 for d in shape):
        raise HttpError(400, f"{what} '{meta.name}' has an empty dimension in {tuple(shape)}.")


def parse_shape(value: Any, name: str) -> tuple[int, ...]:
    """Validate a KServe ``shape`` field: a list of non-negative integers."""
    if type(value) is not list or any(type(d) is not int or d < 0 for d in value):
        raise HttpError(  # (bool is no int here)
            400, f"Input '{name}': 'shape' must be a list of non-negative integers. Got: {value!r}"
        )
    elements = 1
    for d in value:  # capped, so that a long list of huge numbers stays cheap
        elements = min(elements * d, MAX_ELEMENTS + 1)
    if elements > MAX_ELEMENTS or any(d >= 2**31 for d in value):
        raise HttpError(
            400,
            f"Input '{name}': shape {value} holds too many elements (at most {MAX_ELEMENTS:,}).",
        )
    return tuple(value)


def array_from_json(data: Any, dtype: np.dtype[Any], name: str) -> np.ndarray:
    """Convert JSON numbers (flat or nested lists) to an array of ``dtype``.

    Strings, ragged lists, objects, out-of-range integers and floats sent for an integer type
    are rejected.
    """
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise HttpError(
            400, f"Input '{name}': data is not a regular array of numbers ({exc})."
        ) from exc
    kinds = "b" if dtype.kind == "b" else ("iu" if dtype.kind in "iu" else "iuf")
    if arr.dtype.kind not in kinds or (arr.size == 0 and arr.ndim == 0):
        got = "numbers with a fraction" if arr.dtype.kind == "f" else f"{arr.dtype} values"
        raise HttpError(
            400, f"Input '{name}': expected {dtype.name} data, got {got}. Send JSON numbers."
        )
    if dtype.kind in "iu" and arr.size:
        info = np.iinfo(dtype)
        if int(arr.min()) < info.min or int(arr.max()) > info.max:
            raise HttpError(
                400,
                f"Input '{name}': values must lie in [{info.min}, {info.max}] for {dtype.name}.",
            )
    elif dtype.kind == "f" and arr.dtype.kind == "f" and arr.dtype.itemsize > dtype.itemsize:
        largest = float(np.finfo(dtype).max)
        if arr.size and not -largest <= arr.min() <= arr.max() <= largest:
            _reject_beyond(arr, dtype, name, largest)
    return arr.astype(dtype, copy=False)


def _reject_beyond(arr: np.ndarray, dtype: np.dtype[Any], name: str, largest: float) -> None:
    """Reject finite numbers beyond ``dtype``'s range (NaN and infinity are named later)."""
    finite = arr[np.isfinite(arr)]
    if finite.size and float(np.abs(finite).max()) > largest:
        raise HttpError(
            400,
            f"Input '{name}': values must lie within +-{largest:.7g} for {dtype.name}. "
            "Scale the input as the model card says.",
        )


@dataclass(frozen=True)
class _InputCheck:
    """What :func:`check_feeds` expects of one input, worked out once per model."""

    meta: TensorMeta
    dtypes: tuple[np.dtype[Any], ...]
    rank: int
    fixed: tuple[tuple[int, int], ...]  # (axis, size) of every fixed dimension but the batch


_CHECKS: dict[int, tuple[tuple[TensorMeta, ...], dict[str, _InputCheck]]] = {}
_MAX_CHECKS = 256


def _input_checks(inputs: tuple[TensorMeta, ...]) -> dict[str, _InputCheck]:
    """The checks of a model's inputs, cached by the identity of its ``inputs`` tuple (the
    entry holds that tuple, so the id cannot be reused while it lives)."""
    entry = _CHECKS.get(id(inputs))
    if entry is not None and entry[0] is inputs:
        return entry[1]
    checks = {
        m.name: _InputCheck(
            meta=m,
            dtypes=accepted_dtypes(m),
            rank=len(m.shape),
            fixed=tuple((i, d) for i, d in enumerate(m.shape) if i > 0 and d >= 0),
        )
        for m in inputs
    }
    if len(_CHECKS) >= _MAX_CHECKS:  # models come and go (load/unload): stay bounded
        _CHECKS.clear()
    _CHECKS[id(inputs)] = (inputs, checks)
    return checks


def check_feeds(model: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check names, dtypes, shapes and finiteness of ``feeds`` against ``model``'s inputs.

    Returns:
        The feeds, ready for ``ServedModel.predict``.
    """
    checks = _input_checks(model.inputs)
    if model.aliases:
        renamed = {model.canonical(k): v for k, v in feeds.items()}
        if len(renamed) != len(feeds):
            raise HttpError(400, "An input is given twice (under its name and its alias).")
        feeds = renamed
    if len(feeds) != len(checks) or any(n not in checks for n in feeds):
        missing = [n for n in checks if n not in feeds]
        extra = [n for n in feeds if n not in checks]
        raise HttpError(
            400,
            f"Model '{model.name}' expects inputs {sorted(checks)}; missing {missing}, "
            f"unknown {extra}.",
        )
    batch = -1
    for name, arr in feeds.items():
        check = checks[name]
        if arr.dtype not in check.dtypes:
            meta = check.meta
            raise HttpError(
                400,
                f"Input '{name}' expects {v2_datatype(meta.dtype)} ({meta.dtype}) data, "
                f"got {v2_datatype(arr.dtype)}.",
            )
        shape = arr.shape
        if len(shape) != check.rank or 0 in shape or any(shape[i] != d for i, d in check.fixed):
            check_shape(check.meta, shape)  # raises, with the message
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise HttpError(400, f"Input '{name}' contains NaN or infinity. Send finite numbers.")
        rows = shape[0] if shape else 1
        if batch != rows:
            if batch >= 0:
                sizes = sorted({int(a.shape[0]) if a.ndim else 1 for a in feeds.values()})
                raise HttpError(400, f"All inputs must share one batch size. Got: {sizes}")
            batch = rows
    return feeds
