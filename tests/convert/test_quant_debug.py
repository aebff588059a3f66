"""--debug-quant describes the artifact it names; ONNX debug compares like with like."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeship.convert import read_manifest

from .conftest import convert_keep

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

DEBUGGED = (
    "tflite-int8",
    "tflite-int16x8",
    "tflite-dynamic",
    "onnx-fp16",
    "onnx-dynamic",
    "onnx-int8",
)


@pytest.fixture(scope="session")
def debugged(digits_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every quantized scheme --debug-quant accepts, built with it, in one convert."""
    out = tmp_path_factory.mktemp("debugged")
    convert_keep(
        digits_model_dir / "model.keras",
        out,
        variants=DEBUGGED,
        options={"debug_quant": True},
        check_runtimes=False,
    )
    return out


def _rows(out: Path, name: str) -> list[dict[str, str]]:
    with (out / f"{name}.quant-debug.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in read_manifest(out)["variants"]}


def test_every_quantized_variant_gets_its_own_debug_report(debugged: Path) -> None:
    records = _records(debugged)
    assert list(records) == list(DEBUGGED)
    for name, record in records.items():
        params = record["params"]
        assert record["status"] == "ok", record["errors"]
        assert params["quant_debug"] == f"{name}.quant-debug.csv", params
        assert _rows(debugged, name), name
        assert params["worst_layers"], name
    texts = {n: (debugged / f"{n}.quant-debug.csv").read_bytes() for n in DEBUGGED}
    assert len(set(texts.values())) == len(texts)  # no report is another's copy
    for name, record in records.items():  # the float model they were measured against
        assert 0 < record["size_bytes"] < record["params"]["float_bytes"], name


def test_tflite_rows_carry_the_artifacts_own_tensors(debugged: Path) -> None:
    """Every row's dtype, scale and zero point are those of the written file's tensor."""
    import tensorflow as tf

    expect = {"tflite-int16x8": "int16", "tflite-int8": "int8", "tflite-dynamic": None}
    for name, activation in expect.items():
        interpreter = tf.lite.Interpreter(model_path=str(debugged / f"{name}.tflite"))
        tensors = {d["name"]: d for d in interpreter.get_tensor_details()}
        rows = _rows(debugged, name)
        quantized = [r for r in rows if r["scale"]]
        for row in rows:
            detail = tensors[row["tensor_name"]]
            if row["scale"]:
                scale, zero_point = detail["quantization"]
                assert float(row["scale"]) == pytest.approx(scale, rel=1e-5), row
                assert int(row["zero_point"]) == zero_point, row
            assert row["dtype"] == np.dtype(detail["dtype"]).name, row
        if activation is None:  # dynamic range: activations stay float, weights are int8
            assert quantized == [] and any(float(r["sqnr_db"]) < 99 for r in rows)
            continue
        convs = [r for r in quantized if r["op_name"] == "CONV_2D"]
        assert convs and {r["dtype"] for r in convs} == {activation}, name
        if activation == "int16":
            # 16-bit activations: symmetric, a step thousands of times finer than int8's
            assert all(int(r["zero_point"]) == 0 and float(r["scale"]) < 1e-3 for r in convs)
        for row in quantized:
            assert 0 <= float(row["rmse/scale"]) < 100, row
            assert 0 <= float(row["clipped"]) <= 1, row


def test_onnx_debug_compares_post_activation_tensors(debugged: Path) -> None:
    """A Relu fused into its Conv/Gemm is compared after the Relu on both sides."""
    rows = _rows(debugged, "onnx-int8")
    fused = [r for r in rows if r["tensor_name"].endswith("/Relu:0")]
    assert len(fused) == 3
    for row in fused:
        # int8 rounding of a post-ReLU tensor: ~40-50 dB; pre- against post-ReLU: ~3-8 dB
        assert float(row["qdq_sqnr_db"]) > 25, row
        assert float(row["xmodel_sqnr_db"]) > 25, row
        assert row["op_type"] == "Relu" and row["note"].startswith("Relu fused into "), row
    scaled = {r["tensor_name"]: float(r["scale"]) for r in rows if r["scale"]}
    assert scaled and all(s > 0 for s in scaled.values())
    dynamic = _rows(debugged, "onnx-dynamic")
    assert all(r["qdq_sqnr_db"] == "" for r in dynamic)  # no QDQ pairs in dynamic range
    assert min(float(r["xmodel_sqnr_db"]) for r in dynamic) < 99


def test_keep_float_builds_what_the_variant_promises(
    digits_model_dir: Path, debugged: Path, tmp_path: Path
) -> None:
    """TFLite's selective quantization makes int8 activations: tflite-int16x8 refuses it;
    tflite-int8 keeps its per-tensor dense weights and int8 input/output."""
    import tensorflow as tf

    rows = _rows(debugged, "tflite-int8")
    layer = next(r["tensor_name"] for r in rows if r["op_name"] == "FULLY_CONNECTED")
    out = tmp_path / "out"
    convert_keep(
        digits_model_dir / "model.keras",
        out,
        variants=("tflite-int16x8", "tflite-int8"),
        options={"keep_float": (layer,)},
        check_runtimes=False,
    )
    records = _records(out)
    assert records["tflite-int16x8"]["status"] == "failed"
    assert "--keep-float cannot build tflite-int16x8" in " ".join(
        records["tflite-int16x8"]["errors"]
    )
    assert records["tflite-int8"]["params"]["keep_float"] == [layer]
    interpreter = tf.lite.Interpreter(model_path=str(out / "tflite-int8.tflite"))
    weights = [
        d
        for d in interpreter.get_tensor_details()
        if d["dtype"] == np.int8 and len(d["shape"]) == 2 and "MatMul" in d["name"]
    ]
    assert weights and all(len(d["quantization_parameters"]["scales"]) == 1 for d in weights)
    io = interpreter.get_input_details() + interpreter.get_output_details()
    assert {d["dtype"] for d in io} == {np.int8}
