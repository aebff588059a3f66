"""Value ranges of the calibration and eval inputs, and the warning when they disagree.

Quantization takes its scales from the calibration data. Calibration values far outside the
range of the data the model sees (raw 0-16 pixels for a model trained on 0-1) make the int8
steps coarse; a calibration range much narrower than it makes real inputs saturate. Either
way the artifact may still pass its gate, so convert records the ranges in the manifest (and
the calibration range in the card, for the runtime's range check) and warns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship.card import ModelCard
from edgeship.samples import value_range

#: How far (as a share of the eval data's span) calibration may reach beyond the eval range.
OVERREACH = 0.25
#: The smallest share of the eval data's span the calibration range must cover.
MIN_COVER = 0.5


def value_ranges(arrays: dict[str, np.ndarray] | None) -> dict[str, list[float]]:
    """``{input name: [min, max]}`` of the finite values of each float input (as the model
    card records them, :func:`edgeship.samples.value_range`)."""
    return {
        name: list(value_range(value))
        for name, value in (arrays or {}).items()
        if np.asarray(value).dtype.kind == "f" and np.isfinite(value).any()
    }


def training_ranges(card: ModelCard | None) -> dict[str, list[float]]:
    """``{input name: [min, max]}`` of the training data, where the card records it."""
    if card is None:
        return {}
    return {t.name: list(t.range) for t in card.inputs if t.range is not None}


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
    card: ModelCard | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Manifest ``data`` fields (``calibration_range``, ``eval_range``) and the warnings.

    Calibration is compared with the training data's range where the card records it, else
    with the eval data's (not with random inputs).
    """
    cal = value_ranges(calibration)
    ref = {} if eval_from.startswith("random") else value_ranges(eval_inputs)
    fields: dict[str, Any] = {"calibration_range": cal or None, "eval_range": ref or None}
    trained = training_ranges(card)
    if trained and set(cal) <= set(trained):
        return fields, range_warnings(cal, trained, "training data")
    return fields, range_warnings(cal, ref, "eval data")


def card_with_calibration(card: ModelCard, calibration: dict[str, list[float]] | None) -> ModelCard:
    """``card`` with each input's ``calibration_range`` (the runtime warns outside it)."""
    names = {t.name for t in card.inputs}
    known = {k: (v[0], v[1]) for k, v in (calibration or {}).items() if k in names}
    return card.with_input_ranges(known, "calibration") if known else card
