"""Parity metrics, tolerance checks and input/output alignment, on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from edgeship.convert.parity import align_inputs, align_outputs, check, compare, normalize_name
from edgeship.convert.variants import VARIANTS, Tolerance
from edgeship.errors import InvalidInputError


def _probs(n: int = 50, k: int = 4, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).random((n, k)).astype(np.float32)
    return x / x.sum(1, keepdims=True)


def test_identical_outputs() -> None:
    ref = _probs()
    labels = ref.argmax(1)
    result = compare([ref], [ref.copy()], ["probs"], labels)
    assert result["max_abs_error"] == 0.0
    assert result["cosine"] == pytest.approx(1.0)
    assert result["top1_agreement"] == 1.0
    assert result["accuracy"] == 1.0 and result["accuracy_delta"] == 0.0
    assert check(result, VARIANTS["tflite-fp32"].tolerance, 1.0) == []


def test_errors_and_accuracy_delta() -> None:
    ref = _probs()
    labels = ref.argmax(1)
    got = ref.copy()
    got[:5] = got[:5, ::-1]  # flip the first five predictions
    result = compare([ref], [got], ["probs"], labels)
    changed = float(np.mean(got.argmax(1) != labels))
    assert result["accuracy_delta"] == pytest.approx(-100 * changed)
    assert result["max_abs_error"] == pytest.approx(float(np.abs(got - ref).max()))
    reasons = check(result, Tolerance(atol=1e-4), max_accuracy_drop=1.0)
    assert any("max_abs_error" in r for r in reasons)
    assert any(r.startswith(f"accuracy dropped {100 * changed:.2f} points") for r in reasons)


def test_nan_and_shape_mismatch_fail() -> None:
    ref = _probs()
    bad = ref.copy()
    bad[0, 0] = np.nan
    assert check(compare([ref], [bad], ["p"]), Tolerance(), 1.0) == ["output 'p' holds NaN or Inf"]
    result = compare([ref], [ref[:, :2]], ["p"])
    assert "shape [50, 2] != source [50, 4]" in check(result, Tolerance(), 1.0)[0]


def test_regression_outputs_have_no_top1() -> None:
    ref = np.linspace(0, 1, 20, dtype=np.float32).reshape(20, 1)
    result = compare([ref], [ref + 1e-3], ["value"])
    assert result["top1_agreement"] is None and result["accuracy"] is None
    assert result["max_abs_error"] == pytest.approx(1e-3, rel=1e-3)


def test_align_names() -> None:
    assert normalize_name("serving_default_img:0") == "img"
    assert align_inputs(["serving_default_meta:0", "serving_default_img:0"], ["img", "meta"]) == {
        "img": "serving_default_img:0",
        "meta": "serving_default_meta:0",
    }
    assert align_outputs(["StatefulPartitionedCall_1:1", "StatefulPartitionedCall_1:0"],
                         ["scores", "value"]) == [1, 0]  # fmt: skip
    assert align_outputs(["value", "scores"], ["scores", "value"]) == [1, 0]
    assert align_outputs(["Identity", "Identity_1"], ["a", "b"]) == [0, 1]
    with pytest.raises(InvalidInputError, match=r"The artifact has 1 inputs \['x'\]; the source"):
        align_inputs(["x"], ["a", "b"])
    with pytest.raises(
        InvalidInputError,
        match=r"has 2 outputs \['p', 'q'\]; the source model has 1 \['p'\]. Expected the same "
        "outputs: convert the artifact from this model again.",
    ):
        align_outputs(["p", "q"], ["p"])
