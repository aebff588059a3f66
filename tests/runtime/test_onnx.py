"""Engine on ONNX artifacts: tf2onnx output, QDQ, and files written the way other toolchains do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgeship.errors import BackendError, ConfigError, InvalidInputError, ModelLoadError
from edgeship.runtime import load
from runtime.hosts import onnx_provider_available


def _raw(path: Path, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


@pytest.mark.parametrize("name", ["fp32", "qdq"])
@pytest.mark.parametrize("batch", [1, 5])
def test_same_outputs_as_raw_session(artifacts: Path, digits, name: str, batch: int):
    path = artifacts / f"{name}.onnx"
    x = digits["x"][:batch]
    with load(path, verify=False) as engine:
        assert (engine.format, engine.backend) == ("onnx", "onnxruntime")
        assert engine.inputs[0].shape == (None, 8, 8, 1)
        np.testing.assert_array_equal(engine.predict(x), _raw(path, {"x": x})[0])


def test_qdq_close_to_keras(artifacts: Path, digits):
    with load(artifacts / "qdq.onnx", verify=False) as engine:
        got = engine.predict(digits["x"][:300])
    assert (got.argmax(1) == digits["keras"][:300].argmax(1)).mean() >= 0.9


def test_nchw_model_and_layout_hint(artifacts: Path, digits):
    nchw = digits["x"][:3].transpose(0, 3, 1, 2).copy()
    with load(artifacts / "nchw.onnx", verify=False) as engine:
        assert engine.inputs[0].shape == (None, 1, 8, 8)
        out = engine.predict(nchw)
        np.testing.assert_array_equal(out, _raw(artifacts / "nchw.onnx", {"input": nchw})[0])
        with pytest.raises(
            InvalidInputError, match=r"takes NCHW: transpose with x\.transpose\(0, 3, 1, 2\)"
        ):
            engine.predict(digits["x"][:3])


def test_external_weights(artifacts: Path, digits, tmp_path: Path):
    nchw = digits["x"][:2].transpose(0, 3, 1, 2).copy()
    with (
        load(artifacts / "external" / "ext.onnx", verify=False) as engine,
        load(artifacts / "nchw.onnx", verify=False) as inline,
    ):
        np.testing.assert_array_equal(engine.predict(nchw), inline.predict(nchw))
    shutil.copy(artifacts / "external" / "ext.onnx", tmp_path / "ext.onnx")  # weights left behind
    with pytest.raises(ModelLoadError, match="external weight files beside it"):
        load(tmp_path / "ext.onnx", verify=False)


def test_multi_input_output_onnx(artifacts: Path):
    with load(artifacts / "multi.onnx", verify=False) as engine:
        a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
        out = engine.predict({"a": a, "b": b})
        np.testing.assert_array_equal(out["sum"], a + 1)
        np.testing.assert_array_equal(engine.predict([a, b])["prod"], a)


def test_uint8_input_without_quantization_takes_raw_integers(artifacts: Path):
    with load(artifacts / "uint8_raw.onnx", verify=False) as engine:
        spec = engine.inputs[0]
        assert (spec.dtype, spec.quantization, spec.shape) == ("uint8", None, (2, 4, 4, 3))
        pixels = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (0, 10, 200, 255, 7)])
        np.testing.assert_array_equal(engine.predict(pixels), [0, 10, 200, 255, 7])  # 5: loops
        np.testing.assert_array_equal(engine.predict(pixels.astype(np.int64))[:2], [0, 10])
        with pytest.raises(InvalidInputError, match=r"outside the uint8 range \[0, 255\]"):
            engine.predict(pixels.astype(np.int64) - 1)


def test_provider_short_names_and_threads(artifacts: Path, digits):
    with load(artifacts / "fp32.onnx", providers=["cpu"], threads=1, verify=False) as engine:
        assert engine._session.providers == ("CPUExecutionProvider",)
        assert engine.predict(digits["x"][:2]).shape == (2, 10)
    opts = [("CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"})]
    with load(artifacts / "fp32.onnx", providers=opts, verify=False) as engine:
        assert engine.predict(digits["x"][:1]).shape == (1, 10)


@pytest.mark.skipif(
    onnx_provider_available("CUDAExecutionProvider"),
    reason="this onnxruntime build offers CUDA (onnxruntime-gpu): it is not unavailable here",
)
def test_unavailable_provider_lists_available(artifacts: Path):
    with pytest.raises(BackendError) as caught:
        load(artifacts / "fp32.onnx", providers=["cuda"], verify=False)
    available = ", ".join(ort.get_available_providers())
    assert str(caught.value) == (
        "None of the execution providers asked for (CUDAExecutionProvider) is available in "
        f"this onnxruntime build. Available: {available}. Add one of those to the list "
        "(e.g. --provider cuda,cpu / providers=['cuda', 'cpu']), or install the onnxruntime "
        "package that ships the provider (e.g. onnxruntime-gpu, onnxruntime-openvino)."
    )


@pytest.mark.skipif(
    onnx_provider_available("CUDAExecutionProvider"),
    reason="this onnxruntime build offers CUDA (onnxruntime-gpu): nothing to fall back from",
)
def test_providers_fall_back_in_order_of_preference(artifacts: Path, digits, tmp_path, capsys):
    """cuda,cpu on a CPU-only build runs on the CPU provider and says so."""
    from edgeship.cli.main import main
    from edgeship.errors import ProviderFallbackWarning

    path = artifacts / "fp32.onnx"
    with pytest.warns(ProviderFallbackWarning) as caught:
        engine = load(path, providers=["cuda", "cpu"], verify=False)
    with engine:
        assert engine.providers == ("CPUExecutionProvider",)
        np.testing.assert_array_equal(
            engine.predict(digits["x"][:3]), _raw(path, {"x": digits["x"][:3]})[0]
        )
    assert str(caught[0].message) == (
        "Execution provider CUDAExecutionProvider is not available in this onnxruntime build; "
        "running on CPUExecutionProvider, the next one in the list."
    )
    np.save(tmp_path / "three.npy", digits["x"][:3])
    argv = ["predict", str(path), "--input", str(tmp_path / "three.npy"), "--no-verify"]
    assert main([*argv, "--provider", "cuda,cpu"]) == 0
    out, err = capsys.readouterr()
    assert "fp32.onnx on onnxruntime" in out and "(CPUExecutionProvider)" in out
    assert err.startswith("edgeship predict: warning: Execution provider CUDAExecutionProvider")
    assert main([*argv, "--provider", "cuda", "--json"]) == 1
    assert "None of the execution providers asked for" in capsys.readouterr().err


def test_unknown_provider(artifacts: Path):
    with pytest.raises(
        ConfigError, match=r"Unknown execution provider 'warp-drive'\. Available here: "
    ):
        load(artifacts / "fp32.onnx", providers="warp-drive", verify=False)
    with pytest.raises(ConfigError, match="a name or a \\(name, options dict\\) pair"):
        load(artifacts / "fp32.onnx", providers=[42], verify=False)


def test_op_placement_counts_nodes_per_execution_provider(artifacts: Path):
    with load(artifacts / "fp32.onnx", verify=False) as engine:
        placed = engine.op_placement()
        x = np.zeros((1, 8, 8, 1), np.float32)
        assert engine.predict(x).shape == (1, 10)  # the timed session is untouched
    assert placed is not None and set(placed) == {"CPUExecutionProvider"}
    assert placed["CPUExecutionProvider"] >= 3  # conv, matmul/gemm, softmax at least
