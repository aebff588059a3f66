"""Turn user input (array, list or dict by name) into arrays the model takes, or say why not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgeship.errors import InvalidInputError
from edgeship.runtime.quant import check_int_range, quantize
from edgeship.runtime.specs import TensorSpec

_NUMERIC = "biuf"


def aliases(name: str) -> set[str]:
    """Names a user may use for an input: as stored, without ``:0`` and ``serving_default_``."""
    out = {name}
    base = name[:-2] if name.endswith(":0") else name
    out.add(base)
    if base.startswith("serving_default_"):
        out.add(base[len("serving_default_") :])
    return out


def split_inputs(x: Any, specs: tuple[TensorSpec, ...], names: dict[str, int]) -> list[Any]:
    """Return one raw value per input, in the model's input order."""
    n = len(specs)
    if isinstance(x, Mapping):
        unknown = [k for k in x if k not in names]
        if unknown:
            raise InvalidInputError(
                f"Unknown input name(s) {unknown}. Expected: {[s.name for s in specs]}."
            )
        values: list[Any] = [None] * n
        for key, value in x.items():
            if values[names[key]] is not None:
                raise InvalidInputError(
                    f"Input {specs[names[key]].name!r} is given twice (two of its names are "
                    "keys). Pass each input once."
                )
            values[names[key]] = value
        missing = [specs[i].name for i, v in enumerate(values) if v is None]
        if missing:
            raise InvalidInputError(
                f"Missing input(s) {missing}. The model takes {n} input(s): "
                f"{[s.name for s in specs]}; pass a dict with every name."
            )
        return values
    if n == 1:
        # A list holding one array is "the inputs in order", as for multi-input models.
        one = isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray)
        return [x[0]] if one else [x]
    if isinstance(x, (list, tuple)) and len(x) == n:
        return list(x)
    got = f"a {type(x).__name__}" + (f" of {len(x)} items" if isinstance(x, Sequence) else "")
    raise InvalidInputError(
        f"The model takes {n} inputs ({', '.join(repr(s.name) for s in specs)}); got {got}. "
        "Pass a list in that order or a dict by name."
    )


def _describe(arr: np.ndarray) -> str:
    dims = ", ".join(str(d) for d in arr.shape) + ("," if arr.ndim == 1 else "")
    return f"({dims}) {arr.dtype.name}"


def _shape_hint(arr: np.ndarray, spec: TensorSpec) -> str:
    want = spec.shape
    if arr.ndim == len(want) - 1 and _fits(arr.shape, want[1:]):
        return " — add a batch axis: x[None]"
    inner = want[1:]
    if (
        arr.ndim < len(want)
        and all(d is not None for d in inner)
        and [d for d in arr.shape if d != 1] == [d for d in inner if d != 1]
    ):
        dims = ", ".join(str(d) for d in (1, *inner))
        return f" — add a batch axis: x.reshape({dims})"
    if arr.ndim == len(want) == 4 and _fits(arr.shape[1:], (want[2], want[3], want[1])):
        return " — the model takes NCHW: transpose with x.transpose(0, 3, 1, 2)"
    if arr.ndim == len(want) == 4 and _fits(arr.shape[1:], (want[3], want[1], want[2])):
        return " — the model takes NHWC: transpose with x.transpose(0, 2, 3, 1)"
    if arr.ndim == len(want) + 1 and arr.shape[0] == 1 and _fits(arr.shape[1:], want):
        return " — remove the extra leading axis (x[0])"
    return ""


def _fits(shape: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    return len(shape) == len(want) and all(
        w is None or w == s for s, w in zip(shape, want, strict=False)
    )


def _expects(spec: TensorSpec) -> str:
    """What the input takes, e.g. ``(N, 8, 8, 1) int8 (or float, quantized for you)``."""
    text = spec.describe()
    if spec.quantization is not None and spec.np_dtype.kind in "iu":
        text += " (or float, quantized for you)"
    return text


def prepare(value: Any, spec: TensorSpec, raw: bool, check_finite: bool) -> np.ndarray:
    """Validate one input and convert it to the model's dtype (quantizing floats if needed)."""
    try:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"input '{spec.name}' expects {_expects(spec)}, got a value numpy cannot turn "
            f"into an array ({exc}). Pass a rectangular array (no ragged nested lists)."
        ) from exc
    kind = arr.dtype.kind
    if kind not in _NUMERIC:
        raise InvalidInputError(
            f"input '{spec.name}' expects {_expects(spec)}, got {_describe(arr)} values. "
            "Pass numbers."
        )
    want = spec.shape
    if arr.ndim != len(want) or not _fits(arr.shape[1:], want[1:]):
        raise InvalidInputError(
            f"input '{spec.name}' expects {_expects(spec)}, got {_describe(arr)}"
            f"{_shape_hint(arr, spec)}"
        )
    if arr.ndim and arr.shape[0] == 0:
        raise InvalidInputError(f"input '{spec.name}' got an empty batch (0 samples).")
    if check_finite and kind == "f" and not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InvalidInputError(
            f"input '{spec.name}' holds {bad} NaN/Inf value(s); check_finite=True refuses them."
        )
    target = spec.np_dtype
    if arr.dtype == target:
        return np.ascontiguousarray(arr)
    if kind == "b" or target.kind == "b":
        raise InvalidInputError(
            f"input '{spec.name}' expects {_expects(spec)}, got {_describe(arr)}. "
            f"Cast with x.astype('{target.name}')."
        )
    if target.kind == "f":
        return np.ascontiguousarray(arr, dtype=target)
    if spec.quantization is not None and not raw:
        scale, zero_point = spec.quantization
        return quantize(arr, scale, zero_point, target)
    return check_int_range(arr, target, f"input '{spec.name}'")
