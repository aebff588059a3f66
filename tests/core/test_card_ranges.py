"""Card fields for input domains and value ranges: written, read back, old cards still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeship.card import ModelCard, Preprocessing, TensorInfo, load_card
from edgeship.errors import ModelLoadError


def _card() -> ModelCard:
    return ModelCard(
        name="m",
        inputs=(TensorInfo("a", (None, 4)), TensorInfo("b", (None, 2))),
        outputs=(TensorInfo("p", (None, 3)),),
        preprocessing=Preprocessing(scale=1 / 16, raw_range=(0.0, 16.0)),
    )


def test_ranges_round_trip_through_json(tmp_path):
    card = _card().with_input_ranges({"a": (0.0, 1.0)}, "training")
    card = card.with_input_ranges([(-0.5, 1.5), (2.0, 3.0)], "calibration")
    card.save(tmp_path)
    data = json.loads((tmp_path / "edgeship.json").read_text())
    assert data["inputs"][0] == {
        "name": "a", "shape": [None, 4], "dtype": "float32",
        "range": [0.0, 1.0], "calibration_range": [-0.5, 1.5],
    }  # fmt: skip
    assert "range" not in data["inputs"][1] and "range" not in data["outputs"][0]
    assert data["preprocessing"]["raw_range"] == [0.0, 16.0]
    again = load_card(tmp_path)
    assert again == card
    assert again.inputs[0].expected_range() == (-0.5, 1.5)
    assert again.inputs[1].expected_range() == (2.0, 3.0)
    assert again.outputs[0].expected_range() is None


def test_old_cards_load_and_take_raw_domain_from_the_scale(tmp_path):
    data = _card().to_dict()
    del data["preprocessing"]["raw_range"]
    card = ModelCard.from_dict(data)
    assert card.preprocessing.raw_range is None
    assert card.preprocessing.raw_domain() == (0.0, 16.0)
    assert Preprocessing(scale=1 / 255).raw_domain() == (0.0, 255.0)
    assert "raw_range" not in card.to_dict()["preprocessing"]


def test_bad_ranges_are_refused():
    data = _card().to_dict()
    data["inputs"][0]["range"] = [1.0, 0.0]
    with pytest.raises(ModelLoadError, match="lo <= hi"):
        ModelCard.from_dict(data)
    with pytest.raises(ValueError, match="Unknown input name"):
        _card().with_input_ranges({"zz": (0.0, 1.0)})
    with pytest.raises(ValueError, match="kind must be"):
        _card().with_input_ranges([(0.0, 1.0)], "eval")


def test_value_ranges_of_samples_feed_the_card():
    from edgeship.samples import Samples, value_range, value_ranges

    x = np.array([[0.0, np.nan], [0.123456789, np.inf]], np.float32)
    assert value_range(x) == (0.0, 0.123457)
    assert value_range(np.array([np.nan])) == (0.0, 0.0)
    ranges = value_ranges(Samples({"a": np.arange(4.0), "b": -np.ones(3)}))
    assert ranges == {"a": (0.0, 3.0), "b": (-1.0, -1.0)}
    card = _card().with_input_ranges(ranges, "calibration")
    assert [t.calibration_range for t in card.inputs] == [(0.0, 3.0), (-1.0, -1.0)]
    one = ModelCard("m", (TensorInfo("image", (None, 4)),), (TensorInfo("p", (None, 3)),))
    one = one.with_input_ranges(value_ranges(Samples({"x": np.arange(5.0)})), "calibration")
    assert one.inputs[0].calibration_range == (0.0, 4.0)
