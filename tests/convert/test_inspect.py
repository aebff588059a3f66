"""`inspect` on real artifacts: tensors, quantization, operators, Edge TPU and GPU verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeship.cli.main import main
from edgeship.convert.artifact_info import inspect_artifact
from edgeship.errors import ModelLoadError


def test_tflite_int8(digits_all: Path) -> None:
    info = inspect_artifact(digits_all / "tflite-int8.tflite", gpu_check=False)
    assert info["format"] == "tflite"
    (inp,) = info["inputs"]
    assert inp["dtype"] == "int8" and inp["shape"] == [None, 8, 8, 1]
    assert isinstance(inp["scale"], float) and isinstance(inp["zero_point"], int)
    ops = {o["op"]: o for o in info["ops"]}
    assert ops["CONV_2D"]["count"] >= 1 and ops["CONV_2D"]["version"] >= 1
    assert info["edgetpu"]["ready"] is False
    assert any("convert with --batch-size 1" in r for r in info["edgetpu"]["reasons"])
    assert info["size_bytes"] == (digits_all / "tflite-int8.tflite").stat().st_size


def test_fixed_batch_makes_int8_edgetpu_ready(
    digits_model_dir: Path, digits_samples, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--batch-size 1: static shapes, no SHAPE op; the runtime still takes any batch. A 16x8
    model with static shapes is still not ready: the Edge TPU runs 8-bit operators only."""
    from edgeship.convert import convert
    from edgeship.runtime import load

    out = tmp_path / "b1"
    manifest = convert(
        digits_model_dir / "model.keras",
        out,
        variants="tflite-int8,tflite-int16x8,onnx-fp32",
        options={"batch_size": 1},
        check_runtimes=False,
    )
    assert manifest["options"]["batch_size"] == 1
    info = inspect_artifact(out / "tflite-int8.tflite", gpu_check=False)
    assert info["inputs"][0]["shape"] == [1, 8, 8, 1]
    assert info["edgetpu"] == {"ready": True, "reasons": []}
    wide = inspect_artifact(out / "tflite-int16x8.tflite", gpu_check=False)
    assert wide["inputs"][0]["shape"] == [1, 8, 8, 1]
    assert wide["edgetpu"]["ready"] is False
    assert any("int16 tensors, not 8-bit" in r for r in wide["edgetpu"]["reasons"])
    assert main(["inspect", str(out / "tflite-int16x8.tflite"), "--no-gpu-check"]) == 0
    assert "edge tpu ready: no" in capsys.readouterr().out
    x = digits_samples.single[:37]
    for name in ("tflite-int8.tflite", "onnx-fp32.onnx"):
        with load(out / name, verify=False) as engine:
            assert engine.inputs[0].shape[0] == 1
            assert engine.predict(x).shape == (37, 10)  # fed in chunks of the fixed batch


def test_tflite_fp32_not_edgetpu_ready_and_gpu_verdict(digits_all: Path) -> None:
    info = inspect_artifact(digits_all / "tflite-fp32.tflite")
    assert any("float32, not 8-bit" in r for r in info["edgetpu"]["reasons"])
    gpu = info["gpu_delegate"]
    if gpu["analyzer"] is None:
        pytest.skip("no TFLite model analyzer installed (ai-edge-litert or tensorflow)")
    # conv, pooling, dense and softmax all have GPU kernels: the analyzer finds nothing to flag
    assert gpu == {"compatible": True, "warnings": [], "analyzer": "tflite"}


def test_onnx(digits_all: Path) -> None:
    import onnx

    path = digits_all / "onnx-int8.onnx"
    info = inspect_artifact(path)
    # the opset the convert asked for, as the file records it (read here with onnx itself)
    proto = onnx.load(str(path))
    written = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    asked = json.loads((digits_all / "manifest.json").read_text())["options"]["opset"]
    assert info["format"] == "onnx" and info["opset"]["ai.onnx"] == written["ai.onnx"] == asked
    ops = {o["op"] for o in info["ops"]}
    assert ops == {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert info["inputs"][0]["shape"][1:] == [8, 8, 1]


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="not a TFLite flatbuffer"):
        inspect_artifact(bad)
    other = tmp_path / "model.bin"
    other.write_bytes(b"xx")
    with pytest.raises(ModelLoadError, match=r"expected a \.tflite or \.onnx file"):
        inspect_artifact(other)
    with pytest.raises(ModelLoadError, match="does not exist"):
        inspect_artifact(tmp_path / "missing.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is empty"):
        inspect_artifact(tmp_path / "empty.onnx")


def test_cli_json_and_text(digits_all: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["inspect", str(digits_all / "tflite-int8.tflite"), "--json", "--no-gpu-check"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"][0]["dtype"] == "int8"
    assert main(["inspect", str(digits_all / "onnx-fp32.onnx")]) == 0
    text = capsys.readouterr().out
    assert "opset: 17" in text and "inputs:" in text


def test_inspect_does_not_import_tensorflow(digits_all: Path) -> None:
    code = (
        "import sys; from edgeship.cli.main import main; "
        f"main(['inspect', {str(digits_all / 'tflite-int8.tflite')!r}, '--json']); "
        "sys.exit(3 if 'tensorflow' in sys.modules else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"edgetpu"' in proc.stdout
