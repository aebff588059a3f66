"""Gates beyond accuracy: error limits per variant when there are no labels (reported beside
the accuracy when there are), and calibration data outside the eval data's range flagged.
(Random-input parity called agreement only: test_convert_truth.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeship.card import load_card
from edgeship.cli.main import main
from edgeship.convert import read_manifest
from edgeship.convert.variants import VARIANTS
from edgeship.samples import save_samples


def test_each_precision_has_its_own_error_limits() -> None:
    limits = {
        name: (VARIANTS[name].tolerance.unlabeled_atol, VARIANTS[name].tolerance.unlabeled_rtol)
        for name in ("tflite-int8", "tflite-int16x8", "tflite-dynamic")
    }
    assert len(set(limits.values())) == 3 and all(a is not None for a, _ in limits.values())
    assert VARIANTS["tflite-fp16"].tolerance.atol != VARIANTS["tflite-fp32"].tolerance.atol


def test_with_labels_the_error_limits_are_reported_beside_the_accuracy(digits_all: Path) -> None:
    for record in read_manifest(digits_all)["variants"]:
        limits = record["parity"]["error_limits"]
        assert limits["gate"] is False and limits["exceeded"] == [], record["name"]
        assert record["parity"]["accuracy_delta"] is not None


def test_without_labels_the_error_limits_gate_and_bad_calibration_is_flagged(
    digits_model_dir: Path, digits_samples, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Calibration with 8-bit pixel values (0-255) for a model that sees 0-1: flagged, and
    without labels the int8 error limits fail the variant."""
    x = digits_samples.single
    save_samples(tmp_path / "pixels.npz", x[:100] * 255.0)
    save_samples(tmp_path / "unlabeled.npz", x[100:300])
    out = tmp_path / "out"
    args = ["convert", str(digits_model_dir / "model.keras"), "--to", "tflite-int8", "--out",
            str(out), "--calibration", str(tmp_path / "pixels.npz"), "--eval",
            str(tmp_path / "unlabeled.npz"), "--skip-runtime-check", "--quiet"]  # fmt: skip
    assert main(args) == 1
    console = capsys.readouterr().out
    assert "warning: calibration input" in console and "coarser steps" in console
    manifest = read_manifest(out)
    [name] = manifest["data"]["calibration_range"]
    assert manifest["data"]["calibration_range"][name][1] > 200
    assert manifest["data"]["eval_range"][name] == [0.0, 1.0]
    assert any("255" in w and "training data spans [0, 1]" in w for w in manifest["warnings"])
    # the card beside the artifacts keeps it too: the runtime's range check reads it there
    [card_input] = load_card(out).inputs
    assert list(card_input.calibration_range) == manifest["data"]["calibration_range"][name]
    [record] = manifest["variants"]
    assert record["calibration_range"] == manifest["data"]["calibration_range"]
    assert record["status"] == "failed" and record["parity"]["accuracy"] is None
    assert record["parity"]["error_limits"]["gate"] is True
    assert any("(error limit without labels)" in e for e in record["errors"])
