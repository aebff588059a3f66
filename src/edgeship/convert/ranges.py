"""Value ranges of the calibration and eval inputs, and the warning when they disagree.

Quantization takes its scales from the calibration data. Calibration values far outside the
range of the data the model sees (raw 0-16 pixels for a model trained on 0-1) make the int8
steps coarse; a calibration range much narrower than it makes real inputs saturate. Either
way the artifact may still pass its gate, so convert records both ranges in the manifest and
warns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: How far (as a share of the eval data's span) calibration may reach beyond the eval range.
OVERREACH = 0.25
#: The smallest share of the eval data's span the calibration range must cover.
MIN_COVER = 0.5


def value_ranges(arrays: dict[str, np.ndarray] | None) -> dict[str, list[float]]:
    """``{input name: [min, max]}`` of the finite values of each float input."""
    out: dict[str, list[float]] = {}
    for name, value in (arrays or {}).items():
        a = np.asarray(value)
        if a.dtype.kind != "f" or not a.size:
            continue
        finite = a[np.isfinite(a)]
        if finite.size:
            out[name] = [float(finite.min()), float(finite.max())]
    return out


def range_warnings(
    calibration: dict[str, list[float]], reference: dict[str, list[float]], what: str
) -> list[str]:
    """Warnings for calibration ranges far from the ``reference`` ranges (``what`` names it)."""
    warnings: list[str] = []
    for name, (cal_lo, cal_hi) in calibration.items():
        if name not in reference:
            continue
        lo, hi = reference[name]
        span = hi - lo
        if span <= 0:
            continue
        spans = f"spans [{cal_lo:.4g}, {cal_hi:.4g}] but the {what} spans [{lo:.4g}, {hi:.4g}]"
        if cal_lo < lo - OVERREACH * span or cal_hi > hi + OVERREACH * span:
            ratio = (cal_hi - cal_lo) / span
            warnings.append(
                f"calibration input {name!r} {spans}: quantized variants get {ratio:.3g}x "
                "coarser steps. Expected calibration data preprocessed like the model's "
                "inputs (same scale); pass --calibration with such data."
            )
        elif (min(cal_hi, hi) - max(cal_lo, lo)) < MIN_COVER * span:
            warnings.append(
                f"calibration input {name!r} {spans}: inputs outside the calibration range "
                "saturate in quantized variants. Expected calibration data that covers the "
                "inputs' range; pass --calibration with such data."
            )
    return warnings


def data_fields(
    calibration: dict[str, np.ndarray] | None,
    eval_inputs: dict[str, np.ndarray],
    eval_from: str,
) -> tuple[dict[str, Any], list[str]]:
    """Manifest ``data`` fields (``calibration_range``, ``eval_range``) and the warnings."""
    cal = value_ranges(calibration)
    random_eval = eval_from.startswith("random")
    ref = {} if random_eval else value_ranges(eval_inputs)
    fields: dict[str, Any] = {"calibration_range": cal or None, "eval_range": ref or None}
    return fields, range_warnings(cal, ref, "eval data")
