"""Core helpers: typed errors, lazy imports, atomic writes, model card, sample files."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from edgeship._lazy import is_available, require
from edgeship.card import ModelCard, Preprocessing, TensorInfo, find_card, load_card
from edgeship.errors import (
    ArtifactExistsError,
    ConfigError,
    DatasetError,
    EdgeshipError,
    MissingDependencyError,
    ModelLoadError,
)
from edgeship.fileio import atomic_path, atomic_write_json, sha256_file
from edgeship.samples import load_samples, save_samples


def test_missing_dependency_names_the_extra():
    with pytest.raises(MissingDependencyError) as info:
        require("edgeship_no_such_module", "litert", "run TFLite models")
    message = str(info.value)
    assert "pip install 'edgeship[litert]'" in message
    assert "to run TFLite models" in message
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, EdgeshipError)
    assert is_available("json")
    assert not is_available("edgeship_no_such_module")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "model.tflite"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_get_the_usual_permissions(tmp_path):
    """Not mkstemp's 0o600: an artifact copied to a device or read by a server user works."""
    (tmp_path / "plain.json").write_text("{}")  # what open() gives under this umask
    atomic_write_json(tmp_path / "a.json", {"schema": "x/1"})
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode)
    os.chmod(tmp_path / "plain.json", 0o640)
    atomic_write_json(tmp_path / "plain.json", {"schema": "x/1"})  # replacing keeps the mode
    assert stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o640


def test_an_output_path_under_a_file_is_a_config_error(tmp_path):
    from edgeship.fileio import make_dirs

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"afile is a file\. Choose another output path"):
        make_dirs(tmp_path / "afile" / "sub" / "deeper")
    with pytest.raises(ConfigError, match="is a file"):
        atomic_write_json(tmp_path / "afile" / "r.json", {})
    assert make_dirs(tmp_path / "new" / "dir").is_dir()


def test_atomic_write_refuses_overwrite_without_force(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"schema": "x/1", "v": float("nan")})
    assert json.loads(target.read_text()) == {"schema": "x/1", "v": None}
    with pytest.raises(ArtifactExistsError, match="pass --force"):
        atomic_write_json(target, {}, force=False)
    assert len(sha256_file(target)) == 64


def test_card_round_trip_and_lookup(tmp_path):
    card = ModelCard(
        name="digits-cnn",
        inputs=(TensorInfo("image", (None, 8, 8, 1)),),
        outputs=(TensorInfo("probs", (None, 10)),),
        labels=tuple(str(i) for i in range(10)),
        preprocessing=Preprocessing(scale=1 / 16, image_size=(8, 8), color_mode="grayscale"),
        metrics={"test_accuracy": 0.98},
    )
    card.save(tmp_path)
    (tmp_path / "m.tflite").write_bytes(b"")
    assert load_card(tmp_path) == card
    assert find_card(tmp_path / "m.tflite") == card
    assert json.loads((tmp_path / "edgeship.json").read_text())["schema"] == "edgeship.card/1"


def test_card_errors_are_typed(tmp_path):
    with pytest.raises(ModelLoadError, match="No model card at"):
        load_card(tmp_path)
    (tmp_path / "edgeship.json").write_text('{"schema": "other/2"}')
    with pytest.raises(ModelLoadError, match=r"a model card with schema 'edgeship\.card/1'"):
        load_card(tmp_path)
    (tmp_path / "edgeship.json").write_text('{"schema": "edgeship.card/1", "inputs": 3}')
    with pytest.raises(ModelLoadError, match="Model card is malformed"):
        load_card(tmp_path)


def test_samples_single_and_multi_input(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_samples(tmp_path / "one.npz", x, np.array([0, 1, 2]))
    one = load_samples(tmp_path / "one.npz")
    assert len(one) == 3 and np.array_equal(one.single, x)
    assert one.take(2).labels.tolist() == [0, 1]
    save_samples(tmp_path / "two.npz", {"a": x, "b": x[:, :2]})
    two = load_samples(tmp_path / "two.npz")
    assert sorted(two.inputs) == ["a", "b"] and two.labels is None
    with pytest.raises(DatasetError, match="single-input model"):
        _ = two.single
    with pytest.raises(DatasetError, match="same length"):
        save_samples(tmp_path / "bad.npz", {"a": x, "b": x[:2]})


def test_samples_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_samples(tmp_path / "none.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DatasetError, match="Cannot read"):
        load_samples(tmp_path / "corrupt.npz")
    np.savez(tmp_path / "labels_only.npz", y=np.zeros(2, dtype=np.int64))
    with pytest.raises(DatasetError, match="expected 'x'"):
        load_samples(tmp_path / "labels_only.npz")


def test_samples_keyed_by_input_names_are_read_as_they_are(tmp_path):
    """Keys that are neither 'x' nor 'x:<input>' are the model's input names; whether they
    match the model is checked where the model is known (runtime: "Unknown input name")."""
    np.savez(tmp_path / "named.npz", image=np.zeros((2, 4)), features=np.ones((2, 3)), y=[0, 1])
    samples = load_samples(tmp_path / "named.npz")
    assert sorted(samples.inputs) == ["features", "image"]
    assert samples.labels is not None and samples.labels.tolist() == [0, 1]


def test_samples_from_a_plain_npy_array(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(3, 8)
    np.save(tmp_path / "calib.npy", x)
    samples = load_samples(tmp_path / "calib.npy")
    np.testing.assert_array_equal(samples.inputs["x"], x)
    assert samples.labels is None
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"Cannot read .*junk.npy as .npz or .npy"):
        load_samples(tmp_path / "junk.npy")


def test_samples_with_nan_or_negative_labels_are_refused(tmp_path):
    x = np.zeros((4, 2), np.float32)
    x[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x)
    with pytest.raises(DatasetError, match=r"holds 1 NaN/Inf value\(s\)"):
        load_samples(tmp_path / "nan.npz")
    np.savez(tmp_path / "neg.npz", x=np.zeros((2, 2), np.float32), y=np.array([0, -1]))
    with pytest.raises(DatasetError, match="class indices >= 0"):
        load_samples(tmp_path / "neg.npz")


def test_an_existing_output_names_the_opt_in_for_the_command_line_and_python(tmp_path):
    """One wording wherever --force is the way out: the flag, and the keyword for Python."""
    from edgeship.convert.prepare import prepare_out_dir
    from edgeship.train import TrainConfig
    from edgeship.train.loop import prepare_out

    target = tmp_path / "a.json"
    atomic_write_json(target, {"schema": "x/1"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.keras").write_bytes(b"")
    (tmp_path / "out" / "tflite-fp32.tflite").write_bytes(b"")
    refusals = [
        lambda: atomic_write_json(target, {}, force=False),
        lambda: prepare_out_dir(tmp_path / "out", force=False),
        lambda: prepare_out(TrainConfig(out=str(tmp_path / "out"))),
    ]
    for refuse in refusals:
        with pytest.raises(ArtifactExistsError) as caught:
            refuse()
        assert str(caught.value).endswith(
            " pass --force (force=True in Python) to replace "
            + ("them." if "already holds" in str(caught.value) else "it.")
        )
