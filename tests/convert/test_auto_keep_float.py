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
