"""The digits CNN through every variant: built, parity-checked, recorded, gated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeship.convert import MANIFEST_SCHEMA, VARIANTS, convert, read_manifest
from edgeship.errors import ArtifactExistsError, IntegrityError
from edgeship.fileio import sha256_file
from edgeship.runtime import load


def _by_name(out: Path) -> dict[str, dict]:
    return {v["name"]: v for v in read_manifest(out)["variants"]}


def test_every_variant_ok(digits_all: Path) -> None:
    variants = _by_name(digits_all)
    assert list(variants) == list(VARIANTS)
    failed = {n: v["errors"] for n, v in variants.items() if v["status"] != "ok"}
    assert failed == {}
    for name, v in variants.items():
        assert (digits_all / v["file"]).is_file(), name
        assert v["sha256"] == sha256_file(digits_all / v["file"])
        assert v["size_bytes"] == (digits_all / v["file"]).stat().st_size
        assert v["seconds"] > 0


def test_fp32_parity_and_int8_accuracy(digits_all: Path) -> None:
    variants = _by_name(digits_all)
    for name in ("tflite-fp32", "onnx-fp32"):
        assert variants[name]["parity"]["max_abs_error"] < 1e-4, name
        assert variants[name]["parity"]["top1_agreement"] == 1.0
    for name in ("tflite-int8", "tflite-int8-float-io", "onnx-int8"):
        parity = variants[name]["parity"]
        assert parity["accuracy_delta"] >= -1.0, (name, parity)
        assert 0.8 < parity["accuracy"] <= 1.0
        assert parity["samples"] >= 300


def test_int8_is_much_smaller(digits_all: Path) -> None:
    # Weights shrink 4x; scales, int64 zero points and the flatbuffer's structure are a fixed
    # cost (dense weights per tensor, as in TFLite's int8 spec, keep it small).
    variants = _by_name(digits_all)
    ratio = variants["tflite-fp32"]["size_bytes"] / variants["tflite-int8"]["size_bytes"]
    assert ratio >= 3.5, ratio
    assert variants["tflite-int8"]["params"]["per_channel_dense"] is False
    onnx_ratio = variants["onnx-fp32"]["size_bytes"] / variants["onnx-int8"]["size_bytes"]
    assert onnx_ratio >= 2.5, onnx_ratio


def test_manifest_layout(digits_all: Path, digits_model_dir: Path) -> None:
    manifest = json.loads((digits_all / "manifest.json").read_text())
    assert manifest["schema"] == MANIFEST_SCHEMA
    assert manifest["source"]["sha256"] == sha256_file(digits_model_dir / "model.keras")
    assert "tensorflow" in manifest["versions"] or "tensorflow-cpu" in manifest["versions"]
    assert "tf2onnx" in manifest["versions"]
    assert manifest["data"]["eval"].endswith("eval.npz")
    record = manifest["variants"][0]
    for key in (
        "name",
        "file",
        "sha256",
        "size_bytes",
        "status",
        "params",
        "parity",
        "runtimes",
        "seconds",
    ):
        assert key in record
    for key in (
        "max_abs_error",
        "mean_abs_error",
        "cosine",
        "top1_agreement",
        "accuracy",
        "accuracy_delta",
    ):
        assert key in record["parity"]
    assert (digits_all / "edgeship.json").is_file()


def test_runtimes_recorded(digits_all: Path) -> None:
    variants = _by_name(digits_all)
    fp32 = variants["tflite-fp32"]["runtimes"]
    assert any(k.startswith("litert ") for k in fp32)
    assert all(r == "ok" for r in fp32.values()), fp32
    from edgeship.runtime import available_backends
    from edgeship.runtime.backends import BACKENDS

    # every installed backend that reads .onnx (onnxruntime, openvino), and agrees with Keras
    onnx = variants["onnx-fp32"]["runtimes"]
    readers = {n for n in available_backends() if BACKENDS[n].reads("onnx")}
    assert {k.split(" ")[0] for k in onnx} == readers
    assert all(r == "ok" for r in onnx.values()), onnx


def test_dynamic_range_is_too_new_for_tflite_runtime_2_14(digits_all: Path) -> None:
    # TF 2.21 quantizes dense weights per channel (FULLY_CONNECTED v12): too new for 2.14.
    dynamic = _by_name(digits_all)["tflite-dynamic"]["runtimes"]
    old = [r for k, r in dynamic.items() if k.startswith("tflite-runtime 2.14")]
    if not old:
        pytest.skip(f"tflite-runtime 2.14 is not installed (runtimes checked: {list(dynamic)})")
    assert "FULLY_CONNECTED" in old[0]


def test_int8_artifact_has_int8_io(digits_all: Path, digits_samples) -> None:
    with load(digits_all / "tflite-int8.tflite") as engine:
        assert engine.inputs[0].dtype == "int8"
        assert engine.outputs[0].dtype == "int8"
        probs = engine.predict(digits_samples.single[:16])
    assert probs.shape == (16, 10)
    assert np.all(np.isfinite(probs))


def test_refuses_existing_output_without_force(digits_all: Path, digits_model_dir: Path) -> None:
    with pytest.raises(ArtifactExistsError, match=r"already holds .*pass --force"):
        convert(digits_model_dir / "model.keras", digits_all, variants=("tflite-fp32",))


def test_runtime_checks_manifest_sha256(digits_all: Path, tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(digits_all, copy)
    data = bytearray((copy / "tflite-fp32.tflite").read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last buffer byte
    (copy / "tflite-fp32.tflite").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        load(copy / "tflite-fp32.tflite")
