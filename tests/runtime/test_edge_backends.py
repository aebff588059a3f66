"""The OpenVINO and LiteRT CompiledModel backends on real digits artifacts: every registered
backend that reads a format runs it close to Keras; each new backend gives the same numbers as
its own bare API; device and accelerator options are checked before any model is compiled."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import BackendError, ConfigError
from edgeship.runtime import available_backends, load
from edgeship.runtime.backends import BACKENDS

INSTALLED = available_backends()
RUNS = [
    (backend, name)
    for backend, info in BACKENDS.items()
    for name in ("fp32.tflite", "int8.tflite", "fp32.onnx")
    if info.reads(name.split(".")[1]) and backend != "tf-lite"  # tf.lite: see test_engine
]


@pytest.mark.parametrize(("backend", "name"), RUNS)
def test_every_backend_agrees_with_keras(artifacts: Path, digits, backend: str, name: str):
    if backend not in INSTALLED:
        pytest.skip(f"{backend} is not installed ({BACKENDS[backend].distributions[0]})")
    if backend == "tflite-runtime" and "tensorflow" in sys.modules:
        pytest.skip("tflite-runtime cannot load beside TensorFlow (test_engine runs it apart)")
    x = digits["x"][:64]
    with load(artifacts / name, backend=backend, verify=False) as engine:
        assert engine.backend == backend
        got = engine.predict(x)
    keras_out = digits["keras"][:64]
    assert got.shape == keras_out.shape and got.dtype == np.float32
    limit = 1e-5 if name.startswith("fp32") else 0.05
    assert np.abs(got - keras_out).max() <= limit
    assert (got.argmax(1) == keras_out.argmax(1)).mean() >= 0.98


def test_tflite_tensor_infos_match_the_interpreter(artifacts: Path):
    from ai_edge_litert.interpreter import Interpreter

    from edgeship.runtime.tflite_tensors import tensor_infos

    for name in ("int8", "uint8", "fp32"):
        path = artifacts / f"{name}.tflite"
        infos = tensor_infos(path.read_bytes())
        interp = Interpreter(model_path=str(path))
        for d in interp.get_input_details() + interp.get_output_details():
            info = infos[d["name"]]
            scale, zp = d["quantization"]
            assert info.quantization == ((scale, zp) if scale else None)
            assert info.shape == tuple(None if v < 0 else int(v) for v in d["shape_signature"])


# ----------------------------------------------------------------------------- OpenVINO
def _bare_openvino(path: Path, x: np.ndarray) -> np.ndarray:
    ov = pytest.importorskip("openvino")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled.create_infer_request().infer([x])[0]


@pytest.mark.parametrize("name", ["int8.tflite", "uint8.tflite", "fp32.onnx", "qdq.onnx"])
def test_openvino_same_as_bare_api(artifacts: Path, digits, name: str):
    pytest.importorskip("openvino")
    path = artifacts / name
    x = digits["x"][:5]
    with load(path, backend="openvino", verify=False) as engine:
        spec = engine.inputs[0]
        assert spec.shape == (None, 8, 8, 1)  # any batch, no loop
        if spec.is_quantized:
            scale, zp = spec.quantization  # type: ignore[misc]
            info = np.iinfo(spec.np_dtype)
            q = np.clip(np.rint(x / scale) + zp, info.min, info.max).astype(spec.np_dtype)
            raw = engine.predict(q, raw=True)
            np.testing.assert_array_equal(raw, _bare_openvino(path, q))
            out_scale, out_zp = engine.outputs[0].quantization  # type: ignore[misc]
            expected = (raw.astype(np.float32) - out_zp) * np.float32(out_scale)
            np.testing.assert_array_equal(engine.predict(x), expected)
        else:
            np.testing.assert_array_equal(engine.predict(x), _bare_openvino(path, x))


def test_openvino_threads_and_multi_io(artifacts: Path):
    pytest.importorskip("openvino")
    with load(artifacts / "fp32.onnx", backend="openvino", threads=2, verify=False) as engine:
        assert engine._session._compiled.get_property("INFERENCE_NUM_THREADS") == 2
    with load(artifacts / "multi.onnx", backend="openvino", verify=False) as engine:
        a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
        out = engine.predict({"a": a, "b": b})
        np.testing.assert_array_equal(out["sum"], a + 1)


@pytest.mark.parametrize("name", ["fp32.onnx", "int8.tflite"])
def test_openvino_reads_any_array_layout_and_keeps_no_view(artifacts: Path, digits, name: str):
    pytest.importorskip("openvino")
    x = digits["x"][:4]
    with load(artifacts / name, backend="openvino", verify=False) as engine:
        expected = engine.predict(x)
        frozen = x.copy()
        frozen.flags.writeable = False  # OpenVINO shares only writable memory: copied
        strided = np.repeat(x, 2, axis=0)[::2]  # the same values, not C-contiguous: copied
        for feed in (frozen, strided, np.asfortranarray(x)):
            np.testing.assert_array_equal(engine.predict(feed), expected)
        first = engine.predict(x[:1])
        engine.predict(x[1:2])  # the next call must not change an answer already returned
        np.testing.assert_array_equal(first, expected[:1])


def test_openvino_device_checks():
    from edgeship.runtime.backends.openvino import check_device

    assert check_device(None, ["CPU"]) == "CPU"
    assert check_device("gpu", ["CPU", "GPU.0", "GPU.1"]) == "GPU"
    assert check_device("AUTO", ["CPU"]) == "AUTO"
    with pytest.raises(BackendError, match=r"device 'NPU' is not available.*Available: CPU\."):
        check_device("NPU", ["CPU"])
    with pytest.raises(BackendError, match=r"'GPU.1' is not available.*Available: CPU, GPU.0"):
        check_device("GPU.1", ["CPU", "GPU.0"])
    with pytest.raises(ConfigError, match=r"Unknown OpenVINO device 'TPU'. Expected one of CPU"):
        check_device("TPU", ["CPU"])


def test_openvino_missing_device_is_refused_before_compiling(artifacts: Path):
    ov = pytest.importorskip("openvino")
    here = ov.Core().available_devices
    absent = next((d for d in ("NPU", "GPU") if not any(a.startswith(d) for a in here)), None)
    if absent is None:
        pytest.skip(f"this machine has every OpenVINO device ({here})")
    with pytest.raises(BackendError, match=rf"device '{absent}' is not available.*Available: "):
        load(artifacts / "fp32.tflite", backend="openvino", device=absent, verify=False)


def test_device_is_refused_by_backends_that_take_none(artifacts: Path):
    with pytest.raises(ConfigError, match=r"device='GPU' applies to the openvino and "):
        load(artifacts / "fp32.onnx", backend="onnxruntime", device="GPU")
    with pytest.raises(ConfigError, match=r"device must be a name"):
        load(artifacts / "fp32.tflite", backend="litert-compiled", device=3)  # type: ignore[arg-type]


# ------------------------------------------------------------------ LiteRT CompiledModel
def _bare_compiled(path: Path, x: np.ndarray) -> np.ndarray:
    cm = pytest.importorskip("ai_edge_litert.compiled_model")
    model = cm.CompiledModel.from_file(str(path))
    ins, outs = model.create_input_buffers(0), model.create_output_buffers(0)
    ins[0].write(x)
    model.run_by_index(0, ins, outs)
    details = outs[0].get_tensor_details()
    shape = tuple(details["shape"])
    return outs[0].read(int(np.prod(shape)), np.dtype(details["dtype"])).reshape(shape)


@pytest.mark.parametrize("name", ["int8.tflite", "fp32.tflite", "int16x8.tflite"])
def test_compiled_same_as_bare_api_and_any_batch(artifacts: Path, digits, name: str):
    pytest.importorskip("ai_edge_litert.compiled_model")
    path = artifacts / name
    x = digits["x"][:5]
    with load(path, backend="litert-compiled", threads=1, verify=False) as engine:
        spec = engine.inputs[0]
        assert spec.shape == (1, 8, 8, 1)  # the compiled batch: others run in chunks
        feed = x
        if spec.is_quantized:
            scale, zp = spec.quantization  # type: ignore[misc]
            feed = np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8)
        got = engine.predict(feed, raw=spec.is_quantized)
        expected = np.concatenate([_bare_compiled(path, feed[i : i + 1]) for i in range(5)])
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("device", ["npu", "gpu"])
def test_compiled_accelerator_that_is_not_present(artifacts: Path, device: str):
    pytest.importorskip("ai_edge_litert.compiled_model")
    # Neither accelerator exists on a CI machine; the model is compiled for it alone, with no
    # CPU fallback, so the absence shows as a refusal at load.
    with pytest.raises(
        BackendError, match=rf"LiteRT accelerator '{device}' cannot run .*device='cpu'"
    ):
        load(artifacts / "int8.tflite", backend="litert-compiled", device=device, verify=False)
    with pytest.raises(ConfigError, match=r"Unknown LiteRT accelerator 'tpu'. Expected one of cpu"):
        load(artifacts / "int8.tflite", backend="litert-compiled", device="tpu", verify=False)


def test_compiled_refuses_onnx_and_delegates(artifacts: Path):
    with pytest.raises(ConfigError, match=r"'litert-compiled' runs .tflite files, but this"):
        load(artifacts / "fp32.onnx", backend="litert-compiled", verify=False)
    refused = r"delegate= and providers= apply to the TFLite and ONNX Runtime backends, not "
    with pytest.raises(ConfigError, match=refused + r"'litert-compiled'; choose its hardware "
                       r"with device='cpu'\|'gpu'\|'npu'\."):  # fmt: skip
        load(artifacts / "fp32.tflite", backend="litert-compiled", delegate="gpu", verify=False)
    with pytest.raises(ConfigError, match=refused + r"'openvino'; choose its hardware with "
                       r"device='CPU'\|'GPU'\|'NPU'\|'AUTO'\."):  # fmt: skip
        load(artifacts / "fp32.onnx", backend="openvino", providers=["cpu"], verify=False)


@pytest.mark.parametrize("backend", ["openvino", "litert-compiled"])
def test_convert_runtime_check_requires_agreement(artifacts: Path, digits, backend: str):
    if backend not in INSTALLED:
        pytest.skip(f"{backend} is not installed")
    from edgeship.convert.compat import run_on_backend

    x, keras_out = digits["x"][:64], digits["keras"][:64]
    agreement = {
        "reference": [keras_out],
        "names": ["probs"],
        "labels": digits["y"][:64],
        "tolerance": {"atol": 1e-4},
        "max_accuracy_drop": 0.01,
    }
    path = str(artifacts / "fp32.tflite")
    assert run_on_backend(path, backend, {"image": x}, agreement) == "ok"
    # The same run against a source 0.01 away: outside the variant's limit, so not "ok".
    moved = dict(agreement, reference=[keras_out + np.float32(0.01)])
    verdict = run_on_backend(path, backend, {"image": x}, moved)
    assert verdict.startswith("disagrees with the source model: output 'probs' max_abs_error")
    assert verdict.endswith("> 0.0001")


@pytest.mark.parametrize("backend", ["openvino", "litert-compiled"])
def test_bench_raw_baseline_gives_the_engines_numbers(artifacts: Path, digits, backend: str):
    if backend not in INSTALLED:
        pytest.skip(f"{backend} is not installed")
    from edgeship.bench.baselines import open_raw, to_stored

    path = artifacts / "int8.tflite"
    raw = open_raw(str(path), backend, threads=1)
    spec = raw.inputs[0]
    assert spec.dtype == "int8" and spec.quantization is not None  # read from the file
    x = to_stored(spec, digits["x"][:1])
    [got] = raw.predict({spec.name: x})
    with load(path, backend=backend, verify=False) as engine:
        np.testing.assert_array_equal(got, engine.predict(x, raw=True))


def test_compiled_refuses_outputs_sized_only_at_run_time(artifacts: Path, digits):
    pytest.importorskip("ai_edge_litert.compiled_model")
    # CompiledModel would allocate (1, 1, 8, 1) and the run would write (1, 8, 8, 1) past it
    # (the process aborts); the signature's free spatial dimension is refused at load.
    with pytest.raises(BackendError, match=r"has shape signature \(-1, -1, 8, 1\), a size known"):
        load(artifacts / "transposed.tflite", backend="litert-compiled", verify=False)
    with load(artifacts / "transposed.tflite", backend="litert", verify=False) as engine:
        assert engine.predict(digits["x"][:2]).shape == (2, 8, 8, 1)
