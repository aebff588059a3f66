"""--input-shape entries: parsed up front, checked against the model's own shapes."""

from __future__ import annotations

import re

import pytest

from edgeship.card import TensorInfo
from edgeship.convert.input_shapes import apply_input_shapes
from edgeship.convert.variants import ConvertOptions
from edgeship.errors import ConfigError


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["token_ids"], "Bad input shape 'token_ids'. Expected NAME=DxD..."),
        (["token_ids=1x0"], "every dimension between 1 and 16777216"),
        (["token_ids=1x99999999999"], "every dimension between 1 and 16777216"),
        (["a=1x2", "a=1x3"], "Input 'a' is given two shapes. Expected one per input."),
    ],
)
def test_bad_input_shapes_are_rejected_up_front(entries, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ConvertOptions(input_shapes=tuple(entries))


def test_input_shapes_must_fit_the_model() -> None:
    inputs = (TensorInfo("tokens", (None, None), "int32"), TensorInfo("x", (None, 4), "float32"))
    fixed = apply_input_shapes(inputs, {"tokens": (1, 64)})
    assert [t.shape for t in fixed] == [(1, 64), (None, 4)]
    unknown = r"names \['nope'\], .* Expected some of \['tokens', 'x'\]"
    with pytest.raises(ConfigError, match=unknown):
        apply_input_shapes(inputs, {"nope": (1, 2)})
    with pytest.raises(ConfigError, match=r"x=1x5 does not fit the model's input x of shape \?x4"):
        apply_input_shapes(inputs, {"x": (1, 5)})
    with pytest.raises(ConfigError, match="Expected 2 dimensions"):
        apply_input_shapes(inputs, {"tokens": (1, 2, 3)})
