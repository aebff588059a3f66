"""The accuracy gate, --debug-quant and --auto-keep-float on the digits CNN."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from edgeship.convert import convert, read_manifest
from edgeship.convert.artifact_info import inspect_artifact
from edgeship.errors import ParityError
from edgeship.fileio import sha256_file


def test_gate_debug_quant_and_auto_keep_float(digits_model_dir: Path, tmp_path: Path) -> None:
    # An accuracy gate no variant can pass: auto-keep-float uses all its rounds, then the
    # gate fails both variants, keeps their files and raises after writing the manifest.
    with pytest.raises(ParityError, match=r"2 of 2 variant\(s\) failed: tflite-int8: ") as info:
        convert(
            digits_model_dir / "model.keras",
            tmp_path,
            variants=("tflite-int8", "onnx-int8"),
            max_accuracy_drop=-100.0,
            options={"debug_quant": True, "auto_keep_float": True},
            check_runtimes=False,
        )
    assert info.value.failures == ["tflite-int8", "onnx-int8"]
    manifest = read_manifest(tmp_path)
    records = {v["name"]: v for v in manifest["variants"]}
    for name, record in records.items():
        params = record["params"]
        assert record["status"] == "failed"
        assert "max allowed drop is -100.0 points" in record["errors"][-1]
        rows = list(csv.DictReader((tmp_path / params["quant_debug"]).open()))
        assert rows, name
        assert len(params["worst_layers"]) >= 1
        kept = params["auto_keep_float"]
        assert 1 <= len(kept) <= 3 and len(set(kept)) == len(kept)
        assert params["keep_float"] == kept
        assert record["parity"]["max_abs_error"] is not None
        assert record["sha256"] == sha256_file(tmp_path / record["file"])
    tflite_rows = list(csv.DictReader((tmp_path / "tflite-int8.quant-debug.csv").open()))
    assert {"op_name", "tensor_name", "rmse/scale"} <= set(tflite_rows[0])
    # Layers kept in float; input and output stay int8 as the variant promises.
    info = inspect_artifact(tmp_path / "tflite-int8.tflite", gpu_check=False)
    assert info["inputs"][0]["dtype"] == "int8" and info["outputs"][0]["dtype"] == "int8"
    assert any(op["op"] == "DEQUANTIZE" for op in info["ops"])
