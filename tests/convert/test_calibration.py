"""Calibration/eval data: lookup beside the model, shape and count checks, dataset names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeship.card import TensorInfo
from edgeship.convert import calibration as calib
from edgeship.errors import DatasetError
from edgeship.samples import Samples, load_samples, save_samples

INPUTS = (TensorInfo("image", (None, 8, 8, 1)),)


def test_single_input_x_maps_to_the_input_name() -> None:
    samples = Samples({"x": np.zeros((30, 8, 8, 1))}, np.arange(30))
    arrays, labels = calib.match_inputs(samples, INPUTS, "calibration", count=20, minimum=10)
    assert list(arrays) == ["image"] and arrays["image"].shape == (20, 8, 8, 1)
    assert arrays["image"].dtype == np.float32
    assert labels is not None and len(labels) == 20


def test_wrong_shape_message() -> None:
    samples = Samples({"x": np.zeros((30, 8, 8, 3))})
    with pytest.raises(
        DatasetError, match=r"sample shape \(8, 8, 3\); the model expects \(8, 8, 1\)"
    ):
        calib.match_inputs(samples, INPUTS, "calibration")


def test_too_few_samples_message() -> None:
    samples = Samples({"x": np.zeros((9, 8, 8, 1))})
    with pytest.raises(DatasetError, match="holds 9 samples; at least 10 are needed"):
        calib.match_inputs(samples, INPUTS, "calibration", minimum=10)


def test_wrong_names_and_dtype() -> None:
    two = (TensorInfo("a", (None, 2)), TensorInfo("b", (None, 3)))
    with pytest.raises(DatasetError, match=r"expects inputs \['a', 'b'\]"):
        calib.match_inputs(Samples({"x": np.zeros((20, 2))}), two, "eval")
    with pytest.raises(DatasetError, match="has dtype <U1"):
        calib.match_inputs(
            Samples({"x": np.array([["a"] * 8] * 20)}), (TensorInfo("s", (None, 8)),), "eval"
        )


def test_find_default_beside_model(tmp_path: Path) -> None:
    (tmp_path / "model.keras").write_bytes(b"")
    assert calib.find_default(tmp_path / "model.keras", None, "eval") is None
    save_samples(tmp_path / "eval.npz", np.zeros((12, 2)))
    assert calib.find_default(tmp_path / "model.keras", None, "eval") == tmp_path / "eval.npz"


def test_dataset_name_and_bad_name() -> None:
    samples = calib.load_source("digits", "calibration")
    assert samples.single.shape[1:] == (8, 8, 1) and len(samples) > 200
    with pytest.raises(DatasetError):
        calib.load_source("no-such-dataset", "eval")


def test_random_inputs_shape() -> None:
    arrays = calib.random_inputs((TensorInfo("t", (None, None, 5)),), count=4)
    assert arrays["t"].shape == (4, 1, 5)


def test_npz_keys_equal_to_input_names_are_read(tmp_path: Path) -> None:
    path = tmp_path / "named.npz"
    ids = np.arange(60).reshape(12, 5) % 7
    np.savez(path, image=np.zeros((12, 8, 8, 1), "f4"), token_ids=ids, y=np.arange(12) % 3)
    inputs = (*INPUTS, TensorInfo("token_ids", (None, 5), "int32"))
    arrays, labels = calib.match_inputs(load_samples(path), inputs, "eval")
    assert arrays["token_ids"].dtype == np.int32 and np.array_equal(arrays["token_ids"], ids)
    assert arrays["image"].dtype == np.float32
    assert labels is not None and list(labels[:3]) == [0, 1, 2]


def test_integer_input_keeps_ids_and_refuses_fractions() -> None:
    inputs = (TensorInfo("token_ids", (None, 4), "int64"),)
    whole = Samples({"x": np.array([[1.0, 2.0, 3.0, 4.0]] * 10, "f4")})
    arrays, _ = calib.match_inputs(whole, inputs, "calibration")
    assert arrays["token_ids"].dtype == np.int64 and arrays["token_ids"][0, 3] == 4
    frac = Samples({"x": np.full((10, 4), 1.5, "f4")})
    with pytest.raises(DatasetError, match="fractional float32 values; the model expects int64"):
        calib.match_inputs(frac, inputs, "calibration")
    noise = calib.random_inputs(inputs, count=3)
    assert noise["token_ids"].dtype == np.int64


def test_bench_eval_reads_name_keyed_samples(tmp_path: Path) -> None:
    from edgeship.bench.inputs import from_samples
    from edgeship.runtime.specs import TensorSpec

    path = tmp_path / "two.npz"
    np.savez(path, image=np.zeros((4, 8, 8, 1), "f4"), features=np.ones((4, 6), "f4"))
    specs = [
        TensorSpec("image", (None, 8, 8, 1), "float32"),
        TensorSpec("features", (None, 6), "float32"),
    ]
    batch = from_samples(specs, load_samples(path).inputs)
    assert list(batch) == ["image", "features"] and batch["features"].shape == (4, 6)
