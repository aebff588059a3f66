"""The runtime's input checks, called directly on tensor specs (no model file): shape,
empty batch, finiteness, booleans and non-numbers, each refused with its message.
(The same checks through a loaded engine: test_errors.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from edgeship.errors import InvalidInputError
from edgeship.runtime._inputs import prepare
from edgeship.runtime.specs import TensorSpec

IMAGE = TensorSpec("image", (None, 8, 8, 1), "float32")
FLAG = TensorSpec("flag", (None, 1), "bool")


def test_a_fitting_input_passes_and_takes_the_model_dtype() -> None:
    out = prepare(np.zeros((2, 8, 8, 1), np.float64), IMAGE, raw=False, check_finite=True)
    assert out.dtype == np.float32 and out.shape == (2, 8, 8, 1)
    assert prepare(np.ones((3, 1), bool), FLAG, raw=False, check_finite=False).all()


@pytest.mark.parametrize(
    ("value", "spec", "message"),
    [
        (
            np.zeros((2, 8, 7, 1), np.float32),
            IMAGE,
            "expects (N, 8, 8, 1) float32, got (2, 8, 7, 1)",
        ),
        (np.zeros((2, 8, 8), np.float32), IMAGE, "expects (N, 8, 8, 1) float32, got (2, 8, 8)"),
        (np.zeros((0, 8, 8, 1), np.float32), IMAGE, "got an empty batch (0 samples)"),
        (np.full((1, 8, 8, 1), "a"), IMAGE, "values. Pass numbers."),
        (np.ones((2, 1), np.float32), FLAG, "Cast with x.astype('bool')"),
        (np.ones((2, 8, 8, 1), bool), IMAGE, "Cast with x.astype('float32')"),
    ],
    ids=["fixed-dim", "rank", "empty", "strings", "float-for-bool", "bool-for-float"],
)
def test_bad_inputs_are_refused(value: np.ndarray, spec: TensorSpec, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        prepare(value, spec, raw=False, check_finite=False)
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_refuses_nan_and_inf(bad: float) -> None:
    x = np.zeros((2, 8, 8, 1), np.float32)
    x[1, 4, 4, 0] = bad
    assert prepare(x, IMAGE, raw=False, check_finite=False) is not None
    with pytest.raises(InvalidInputError, match=r"holds 1 NaN/Inf value\(s\); check_finite=True"):
        prepare(x, IMAGE, raw=False, check_finite=True)
