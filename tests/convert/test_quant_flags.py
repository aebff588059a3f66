"""A reduced-precision variant that quantized nothing, or is not smaller than its float source,
is flagged in the manifest and never recommended; one that did quantize is not flagged.

The conditions are forced: every weight tensor of the small model is below the dynamic-range
quantizer's size floor (1,024 values), so tflite-dynamic keeps them all in float32, and the
ONNX dynamic quantizer's scale/zero-point tensors and extra nodes outweigh what it saves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeship.cli.convert import format_table
from edgeship.pipeline.recommend import Budgets, candidates, recommend
from edgeship.samples import save_samples

from .conftest import convert_keep

VARIANTS = "tflite-fp32,tflite-dynamic,onnx-fp32,onnx-dynamic"


def _convert(tmp: Path, width: int, hidden: int) -> dict:
    import keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, width)).astype(np.float32)
    y = np.arange(64) % 3
    inputs = keras.Input((width,), name="features")
    h = keras.layers.Dense(hidden, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="scores")(h))
    model.save(tmp / "model.keras")
    save_samples(tmp / "eval.npz", {"features": x}, y)
    save_samples(tmp / "calibration.npz", {"features": x})
    convert_keep(
        tmp / "model.keras", tmp / "out", variants=VARIANTS,
        calibration=tmp / "calibration.npz", eval_data=tmp / "eval.npz", max_accuracy_drop=100.0,
    )  # fmt: skip
    return json.loads((tmp / "out" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _convert(tmp_path_factory.mktemp("small"), width=8, hidden=4)


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _convert(tmp_path_factory.mktemp("wide"), width=64, hidden=64)


def _by_name(manifest: dict) -> dict:
    return {v["name"]: v for v in manifest["variants"]}


def test_a_variant_that_quantized_nothing_or_grew_is_flagged(small):
    variants = _by_name(small)
    dynamic = variants["tflite-dynamic"]
    assert dynamic["status"] == "ok"
    assert dynamic["quantization"]["weights_quantized"] == 0.0
    assert dynamic["quantization"]["float_source"] == "tflite-fp32"
    assert dynamic["quantization"]["size_ratio"] == pytest.approx(
        dynamic["size_bytes"] / variants["tflite-fp32"]["size_bytes"], abs=1e-4
    )
    count = dynamic["quantization"]["weight_values"]
    assert count >= 8 * 4 + 4 * 3  # both kernels (at least), all kept in float32
    assert any(
        f.startswith(f"quantized nothing: all {count} weight values") for f in dynamic["flags"]
    )
    onnx = variants["onnx-dynamic"]
    assert onnx["size_bytes"] > variants["onnx-fp32"]["size_bytes"]  # the forced condition
    assert onnx["quantization"]["size_ratio"] > 1.0
    assert any(f.startswith("not smaller than onnx-fp32") for f in onnx["flags"])
    assert any(w.startswith("tflite-dynamic: quantized nothing") for w in small["warnings"])
    assert "quantization" not in variants["tflite-fp32"] and "flags" not in variants["onnx-fp32"]
    table = format_table(small)
    assert "ok, flagged" in table and "warning: tflite-dynamic: quantized nothing" in table


def test_a_variant_that_quantized_its_weights_is_not_flagged(wide):
    variants = _by_name(wide)
    for name in ("tflite-dynamic", "onnx-dynamic"):
        record = variants[name]
        assert record["status"] == "ok", record["errors"]
        assert record["quantization"]["weights_quantized"] > 0.8, name
        assert record["quantization"]["size_ratio"] < 0.6, name
        assert "flags" not in record, name


def test_a_flagged_variant_is_never_recommended(small):
    def row(name: str, p50: float) -> dict:
        return {"variant": name, "backend": "litert", "threads": 1, "batch": 1,
                "scenario": "single-stream", "latency_ms": {"p50": p50}}  # fmt: skip

    rows = [row("tflite-fp32", 0.02), row("tflite-dynamic", 0.001), row("onnx-dynamic", 0.001)]
    assert [c.variant for c in candidates(small["variants"], rows)] == ["tflite-fp32"]
    assert (
        recommend(small["variants"], rows, Budgets(max_accuracy_drop=None)).variant == "tflite-fp32"
    )


def test_the_demo_models_quantized_variants_are_not_flagged(digits_all: Path):
    manifest = json.loads((digits_all / "manifest.json").read_text())
    for record in manifest["variants"]:
        if record["name"].endswith("-fp32"):
            continue
        quant = record["quantization"]
        fmt = "onnx" if record["name"].startswith("onnx") else "tflite"
        assert quant["float_source"] == f"{fmt}-fp32", record["name"]
        assert quant["weights_quantized"] > 0.5, record["name"]
        assert quant["size_ratio"] < 0.75, record["name"]
        assert "flags" not in record, record["name"]
