"""Input-range awareness: warn once when inputs are far from what the model was built for.

An :class:`~edgeship.runtime.Engine` checks the float values it is given against:

* the value ranges its model card records per input (``range``: the training data,
  ``calibration_range``: the calibration data of a quantized variant; model-input domain).
  Values more than half that range's width beyond either end are "far outside": a sign of
  missing or double preprocessing (e.g. 0..255 pixels into a model trained on 0..1);
* the range an int8/uint8/int16 input's quantization can represent,
  ``[(qmin - zero_point) * scale, (qmax - zero_point) * scale]``: values beyond it (by more
  than 5% of its width) saturate to the integer limits and the model sees clipped inputs;
* NaN and Inf. With ``check_finite=False`` (the default) a float input passes them to the
  model, whose outputs are then NaN or meaningless; an integer (quantized) input refuses NaN
  with :class:`~edgeship.errors.InvalidInputError` (it has no integer value) and saturates
  infinities. ``check_finite=True`` refuses NaN/Inf in every input.

Each finding is reported once per engine and input, as an :class:`InputRangeWarning` (a
``UserWarning``: ``warnings.simplefilter("error", InputRangeWarning)`` turns it into an
exception). The check costs one min and one max per input; it runs on the first call and on
every :data:`SAMPLE_EVERY`-th call after it, never on every call, and stops once every
finding it can make has been reported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeship.runtime._inputs import aliases
from edgeship.runtime.specs import TensorSpec

if TYPE_CHECKING:
    from edgeship.card import ModelCard

SAMPLE_EVERY = 1024
FAR_FRACTION = 0.5
SATURATION_SLACK = 0.05
NEVER = 1 << 62
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce  # without ndarray.min's wrapper


class InputRangeWarning(UserWarning):
    """Inputs fall far outside the model's value range, saturate its quantized input, or
    hold NaN/Inf (see :mod:`edgeship.runtime.ranges`)."""


class _InputCheck:
    """What one input is checked against, and which findings were already reported."""

    __slots__ = ("expected", "reported", "representable", "spec")

    def __init__(
        self,
        spec: TensorSpec,
        expected: tuple[float, float] | None,
        representable: tuple[float, float] | None,
    ) -> None:
        self.spec = spec
        self.expected = expected
        self.representable = representable
        self.reported: set[str] = set()

    @property
    def done(self) -> bool:
        kinds = {"finite"}
        if self.expected is not None:
            kinds.add("far")
        if self.representable is not None:
            kinds.add("saturated")
        return kinds <= self.reported


def representable_range(spec: TensorSpec) -> tuple[float, float] | None:
    """The real values a quantized integer input can hold, or None for other inputs."""
    if spec.quantization is None or spec.np_dtype.kind not in "iu":
        return None
    scale, zero_point = float(spec.quantization[0]), float(spec.quantization[1])
    if not scale > 0:
        return None
    info = np.iinfo(spec.np_dtype)
    return ((info.min - zero_point) * scale, (info.max - zero_point) * scale)


def _card_range(card: ModelCard | None, spec: TensorSpec, count: int) -> tuple[float, float] | None:
    if card is None:
        return None
    names = aliases(spec.name)
    for info in card.inputs:
        if info.name in names or spec.name in aliases(info.name):
            return info.expected_range()
    if count == 1 and len(card.inputs) == 1:  # one input: the names may differ by converter
        return card.inputs[0].expected_range()
    return None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _span(lo: float, hi: float) -> str:
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


class RangeGuard:
    """The input checks of one engine (see the module docstring)."""

    def __init__(self, specs: Sequence[TensorSpec], card: ModelCard | None) -> None:
        self._checks = [
            _InputCheck(s, _card_range(card, s, len(specs)), representable_range(s)) for s in specs
        ]
        for check in self._checks:
            if check.representable is not None:  # quantizing refuses NaN itself, with an error
                check.reported.add("finite")

    @property
    def done(self) -> bool:
        """Whether every finding has been reported (nothing left to check)."""
        return all(c.done for c in self._checks)

    def check(self, values: Sequence[Any], raw: bool, stacklevel: int = 1) -> None:
        """Check one call's inputs (in model order) and warn about new findings.

        ``stacklevel``: the frame a warning points at, as for ``warnings.warn`` counted from
        the caller of this method (1: the caller itself).
        """
        for check, value in zip(self._checks, values, strict=False):
            if check.done or not isinstance(value, np.ndarray) or not value.size:
                continue
            kind = value.dtype.kind
            if kind not in "fiu" or (kind in "iu" and check.spec.np_dtype.kind in "iu"):
                continue  # integers into an integer input: raw values, checked elsewhere
            if raw and check.spec.np_dtype.kind in "iu":
                continue
            lo, hi = float(_MIN(value, None)), float(_MAX(value, None))
            self._report(check, value, lo, hi, stacklevel + 3)

    def _report(
        self, check: _InputCheck, value: np.ndarray, lo: float, hi: float, level: int
    ) -> None:
        name = check.spec.name
        if not (math.isfinite(lo) and math.isfinite(hi)):
            if "finite" not in check.reported:
                check.reported.add("finite")
                _warn(
                    f"input '{name}' holds NaN or Inf values; the model computes with them "
                    "and its outputs are NaN or meaningless. Pass finite values, or "
                    "predict(..., check_finite=True) to refuse them with an error.",
                    level,
                )
            finite = value[np.isfinite(value)]
            if not finite.size:
                return
            lo, hi = float(finite.min()), float(finite.max())
        expected = check.expected
        if expected is not None and "far" not in check.reported:
            e_lo, e_hi = expected
            margin = FAR_FRACTION * ((e_hi - e_lo) or max(abs(e_lo), abs(e_hi), 1.0))
            if lo < e_lo - margin or hi > e_hi + margin:
                check.reported.add("far")
                _warn(
                    f"input '{name}' got values in {_span(lo, hi)}, far outside the range the "
                    f"model was trained on, {_span(e_lo, e_hi)} (its model card): predictions "
                    "are likely wrong. Apply the card's preprocessing (e.g. scale 0..255 "
                    "pixels to 0..1), or use predict_image / 'edgeship predict IMAGE'.",
                    level,
                )
        rep = check.representable
        if rep is not None and "saturated" not in check.reported:
            r_lo, r_hi = rep
            slack = SATURATION_SLACK * (r_hi - r_lo)
            if lo < r_lo - slack or hi > r_hi + slack:
                check.reported.add("saturated")
                share = float(np.mean((value < r_lo) | (value > r_hi)))
                scale, zero_point = check.spec.quantization or (0.0, 0)
                _warn(
                    f"input '{name}' got values in {_span(lo, hi)}, beyond what its "
                    f"{check.spec.np_dtype.name} quantization represents, {_span(r_lo, r_hi)} "
                    f"(scale {_fmt(scale)}, zero point {zero_point}): {share:.1%} of the values "
                    "saturate to the integer limits, so the model sees clipped inputs. Check "
                    "the preprocessing against the data the model was calibrated on.",
                    level,
                )


def _warn(message: str, level: int) -> None:
    warnings.warn(message, InputRangeWarning, stacklevel=level)
