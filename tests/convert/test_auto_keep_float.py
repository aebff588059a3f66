"""--auto-keep-float keeps a layer only where it helps and says why a variant still fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeship.convert import read_manifest
from edgeship.samples import load_samples, save_samples

from .conftest import convert_keep


@pytest.fixture(scope="session")
def one_epoch_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits CNN trained for one epoch: unsure, so its class scores lie close together."""
    from edgeship.train import TrainConfig, train

    out = tmp_path_factory.mktemp("one_epoch")
    train(TrainConfig(recipe="mnist-cnn", dataset="digits", epochs=1, batch_size=64,
                      out=str(out), seed=0, verbose=0))  # fmt: skip
    return out


def _check_search(record: dict[str, Any]) -> dict[str, Any]:
    """What every auto-keep-float record must show, whatever the model."""
    params = record["params"]
    report = params["auto_keep_float_report"]
    kept = params["auto_keep_float"]
    assert record["size_bytes"] <= params["float_bytes"]  # never bigger than float32
    for entry in report["tried"]:
        assert entry["result"], entry
    # every layer kept in float was tried and is in the file's configuration
    tried = {name for entry in report["tried"] for name in entry["keep_float"]}
    assert set(kept) <= tried
    if kept:
        assert params["keep_float"] == kept
    if record["status"] != "ok":  # a variant that still fails keeps nothing in float
        assert kept == [] and "keep_float" not in params
        assert report["stopped"], report
        assert record["errors"][-1].startswith("--auto-keep-float: "), record["errors"]
    return report


def test_one_epoch_model_at_half_a_point(one_epoch_model: Path, tmp_path: Path) -> None:
    """The reported case: no layer that does not help is kept, and the file stays small."""
    out = tmp_path / "out"
    convert_keep(one_epoch_model / "model.keras", out, variants=("tflite-int8",),
                 max_accuracy_drop=0.5, options={"auto_keep_float": True},
                 check_runtimes=False)  # fmt: skip
    [record] = read_manifest(out)["variants"]
    report = _check_search(record)
    kept = record["params"]["auto_keep_float"]
    plain = next(e for e in report["tried"] if len(e["keep_float"]) == 1)
    assert plain["result"]
    if kept:  # layers stay float only in a variant that passes
        assert record["status"] == "ok"
    else:  # the file is the plain int8 build: no bigger than int8 weights plus a margin
        assert record["size_bytes"] < 0.5 * record["params"]["float_bytes"]
    if record["status"] != "ok":
        assert "Likely cause: " in record["errors"][-1]


def test_narrow_calibration_is_named_as_the_cause(
    digits_model_dir: Path, digits_samples, tmp_path: Path
) -> None:
    """Calibrated on inputs a quarter as bright as the eval data: no layer kept in float can
    undo the clipped int8 input, and the record says so."""
    calibration = load_samples(digits_model_dir / "calibration.npz")
    narrow = tmp_path / "narrow.npz"
    save_samples(narrow, np.asarray(calibration.single, np.float32) * 0.25)
    out = tmp_path / "out"
    convert_keep(digits_model_dir / "model.keras", out, variants=("tflite-int8",),
                 calibration=narrow, max_accuracy_drop=0.5,
                 options={"auto_keep_float": True}, check_runtimes=False)  # fmt: skip
    [record] = read_manifest(out)["variants"]
    assert record["status"] == "failed"
    report = _check_search(record)
    assert record["params"]["auto_keep_float"] == []
    assert report["likely_cause"].startswith("the calibration range: ")
    assert "lie outside the range the quantized input was calibrated for" in report["likely_cause"]
    assert "Likely cause: the calibration range" in record["errors"][-1]


def _record(status: str, delta: float | None, cosine: float = 0.9) -> dict[str, Any]:
    parity = {"accuracy_delta": delta, "samples": 360, "cosine": cosine}
    return {"status": status, "parity": parity}


def test_a_layer_helps_only_by_more_than_one_eval_sample() -> None:
    from edgeship.convert.keep_float import helps

    plain = _record("failed", -0.8333)
    assert not helps(_record("failed", -0.5556), plain)  # one sample of 360: noise
    assert helps(_record("failed", -0.2778), plain)  # two samples
    assert helps(_record("ok", -0.8333), plain)  # passing the gate is what it is for
    assert not helps({"status": "failed", "parity": None}, plain)  # not built
    # without labels: the cosine gap must shrink by more than a tenth
    assert not helps(_record("failed", None, 0.905), _record("failed", None, 0.90))
    assert helps(_record("failed", None, 0.92), _record("failed", None, 0.90))


def test_close_class_scores_name_the_quantized_output() -> None:
    from edgeship.convert.keep_float import likely_cause
    from edgeship.convert.variants import VARIANTS

    scores = np.array([[0.5, 0.499, 0.001], [0.9, 0.05, 0.05], [0.4, 0.3, 0.3]])
    rows = [{"role": "output", "scale": "0.00390625", "tensor_name": "out", "clipped": "0"}]
    cause = likely_cause(VARIANTS["tflite-int8"], rows, [scores], {})
    assert cause.startswith("the quantized output: 1 of 3 eval samples")
    assert "build tflite-int8-float-io" in cause
    wide = [{"role": "input", "scale": "0.001", "zero_point": "-128", "dtype": "int8",
             "tensor_name": "x", "clipped": ""}]  # fmt: skip
    inputs = {"x": np.array([0.0, 0.1, 0.5, 1.0])}  # calibrated for 0..0.255
    assert likely_cause(VARIANTS["onnx-int8"], wide, [scores[1:2]], inputs).startswith(
        "the calibration range: 50.0% of the eval input values"
    )
