"""What convert says must be whole and true: errors kept whole in the manifest, a target
runtime that could not be checked here called "not verified" (and a failure with --strict),
parity on random inputs called agreement only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeship.cli.convert import format_table, not_verified
from edgeship.cli.main import main
from edgeship.convert import read_manifest
from edgeship.convert.routes import explain_runtime_failures
from edgeship.runtime import available_backends

_RUN_ON_TFLITE_RUNTIME = """
import sys, numpy as np
from edgeship.runtime import load
try:
    with load(sys.argv[1], backend="tflite-runtime", verify=False) as engine:
        engine.predict(np.zeros((1, 8, 8, 1), np.float32))
except Exception as exc:
    print(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
"""


def test_runtime_errors_are_kept_whole_in_the_manifest(digits_all: Path) -> None:
    """tflite-runtime 2.14 cannot run TF 2.21's dynamic-range model; its long reason is kept."""
    if "tflite-runtime" not in available_backends():
        pytest.skip("tflite-runtime is not installed here")
    # tflite-runtime clashes with TensorFlow (loaded in this process): ask a fresh one.
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_ON_TFLITE_RUNTIME, str(digits_all / "tflite-dynamic.tflite")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = proc.stdout.strip()
    if not expected:
        pytest.skip(f"this tflite-runtime runs the dynamic-range model ({proc.stderr[-200:]})")
    assert len(expected) > 300
    record = next(v for v in read_manifest(digits_all)["variants"] if v["name"] == "tflite-dynamic")
    [verdict] = [r for k, r in record["runtimes"].items() if k.startswith("tflite-runtime")]
    assert " ".join(verdict.split()) == expected
    [reason] = explain_runtime_failures({"tflite-runtime 2.14.0": verdict}, "tflite-dynamic", "x")
    assert verdict in reason and reason.endswith("replace the layer that produces it.")


def test_long_errors_are_cut_for_display_only() -> None:
    error = "word " * 300
    manifest = {"variants": [{"name": "tflite-int8", "status": "failed", "errors": [error]}]}
    table = format_table(manifest)
    assert "..." in table and len(table) < 1000
    assert manifest["variants"][0]["errors"] == [error]


def test_what_was_not_checked_is_said_on_the_console(
    digits_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model file alone (no card, no eval data) is checked on random inputs: agreement only,
    no top-1 figure that reads like an accuracy. onnxruntime 1.14 is not installed here: the
    settings are chosen for it but nothing ran the artifact on it; the console says "not
    verified", and --strict makes that an error."""
    shutil.copy(digits_model_dir / "model.keras", tmp_path / "model.keras")
    out = tmp_path / "out"
    args = ["convert", str(tmp_path / "model.keras"), "--to", "onnx-fp32", "--out", str(out),
            "--target-runtime", "onnxruntime==1.14", "--quiet", "--strict"]  # fmt: skip
    assert main(args) == 1
    captured = capsys.readouterr()
    row = next(line for line in captured.out.splitlines() if line.startswith("onnx-fp32 "))
    assert "ok, target not verified (random inputs: agreement only)" in row
    assert "1.0000" not in row
    assert "onnx-fp32: target onnxruntime==1.14: not verified: no onnxruntime==1.14" in captured.out
    assert "parity ran on random inputs (no eval data): agreement" in captured.out
    assert "--strict: onnx-fp32 could not be verified on target onnxruntime==1.14" in captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [v["status"] for v in manifest["variants"]] == ["ok"]
    assert manifest["data"]["eval"].startswith("random")
    assert not_verified(manifest) == ["onnx-fp32"]
