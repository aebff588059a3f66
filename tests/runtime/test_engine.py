"""Engine on real TFLite artifacts: every variant, every installed backend, against raw calls."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import BackendError, InvalidInputError, ModelLoadError
from edgeship.runtime import Engine, TensorSpec, available_backends, load
from runtime.conftest import TFLITE_BACKENDS, TFLITE_VARIANTS, raw_tflite

pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")

TESTS = Path(__file__).parents[1]
# tflite-runtime 2.14 cannot run the dynamic-range model TF 2.21 emits (FULLY_CONNECTED v12).
UNSUPPORTED = {("tflite-runtime", "dynamic")}
BACKENDS = [b for b in TFLITE_BACKENDS if b in available_backends()]
CASES = [(b, v) for b in BACKENDS for v in TFLITE_VARIANTS if (b, v) not in UNSUPPORTED]
if "tf-lite" in BACKENDS:  # tf.lite is the slow fallback: one float and one int8 model suffice
    CASES = [c for c in CASES if c[0] != "tf-lite" or c[1] in ("fp32", "int8")]


def _quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    scale, zp = spec.quantization  # type: ignore[misc]
    info = np.iinfo(spec.np_dtype)
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(spec.np_dtype)


def check_same_outputs(path: Path, backend: str, x: np.ndarray) -> None:
    """Engine outputs equal the backend's own interpreter on ``x`` (raw and dequantized)."""
    with load(path, backend=backend, verify=False) as engine:
        assert engine.backend == backend
        assert engine.format == "tflite"
        spec, out = engine.inputs[0], engine.outputs[0]
        if spec.is_quantized:
            q = _quantize(x, spec)
            expected_raw = raw_tflite(backend, path, q)
            np.testing.assert_array_equal(engine.predict(q, raw=True), expected_raw)
            got = engine.predict(x)  # float in: quantized inside, dequantized out
            scale, zp = out.quantization  # type: ignore[misc]
            expected = (expected_raw.astype(np.float32) - zp) * np.float32(scale)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_array_equal(engine.predict(x), raw_tflite(backend, path, x))


def _check_in_fresh_process(path: Path, backend: str, x_path: Path) -> None:
    """Run check_same_outputs in a child without TensorFlow (tflite-runtime cannot share one)."""
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from runtime.test_engine import check_same_outputs\n"
        "check_same_outputs(Path(sys.argv[1]), sys.argv[2], np.load(sys.argv[3]))\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), backend, str(x_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize(("backend", "variant"), CASES)
def test_same_outputs_as_raw_interpreter(
    artifacts: Path, digits, backend: str, variant: str, tmp_path: Path
):
    path = artifacts / f"{variant}.tflite"
    x = digits["x"][:1]
    if backend == "tflite-runtime" and "tensorflow" in sys.modules:
        np.save(tmp_path / "x.npy", x)
        _check_in_fresh_process(path, backend, tmp_path / "x.npy")
    else:
        check_same_outputs(path, backend, x)


def test_tflite_runtime_beside_tensorflow_is_a_clear_error(artifacts: Path):
    if "tflite-runtime" not in available_backends():
        pytest.skip("tflite-runtime is not installed")
    code = (
        "import os, sys\n"
        "import tensorflow\n"
        "from edgeship.errors import BackendError\n"
        "from edgeship.runtime import load\n"
        "try:\n"
        "    load(sys.argv[1], backend='tflite-runtime', verify=False)\n"
        "except BackendError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('loaded')\n"
        "sys.stdout.flush()\n"
        "os._exit(0)  # skip teardown: the two native libraries may clash again at exit\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(artifacts / "fp32.tflite")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Refused before the interpreter is created: it would fail or crash the process.
    out = proc.stdout.strip()
    assert "imported TensorFlow" in out and "backend='litert'" in out, out


def test_auto_skips_tflite_runtime_beside_tensorflow(monkeypatch: pytest.MonkeyPatch):
    from edgeship.runtime.backends import resolve

    loaded = sys.modules.get("tensorflow", types.ModuleType("tensorflow"))
    monkeypatch.setitem(sys.modules, "tensorflow", loaded)
    assert "tflite-runtime" not in resolve("auto", "tflite")
    assert resolve("tflite-runtime", "tflite") == ["tflite-runtime"]  # asked for: refused later


@pytest.mark.parametrize("native", [ValueError("vector::reserve"), MemoryError("std::bad_alloc")])
def test_native_load_failures_are_typed(native: Exception):
    from edgeship.runtime.backends import tflite

    assert isinstance(tflite._load_error("litert", "2.3", "m.tflite", native), ModelLoadError)


@pytest.mark.parametrize(
    "variant", ["fp32", "fp16", "dynamic", "int8", "uint8", "int8_floatio", "int16x8"]
)
def test_close_to_keras_on_digits(artifacts: Path, digits, variant: str):
    x, keras_out = digits["x"][:300], digits["keras"][:300]
    with load(artifacts / f"{variant}.tflite", verify=False) as engine:
        got = engine.predict(x)
    # The weights come from a training run whose floats differ by processor and oneDNN
    # setting, so the bounds leave room (measured here: fp32 3e-7, fp16 3.6e-4, int8 0.024):
    # fp16 rounds each weight by up to 2**-11; int8 outputs step by 1/256.
    tol = 1e-5 if variant == "fp32" else 2e-3 if variant == "fp16" else 0.08
    assert np.abs(got - keras_out).max() < tol
    assert (got.argmax(1) == keras_out.argmax(1)).mean() >= 0.9


@pytest.mark.parametrize("variant", ["fp32", "int8", "fixed1"])
@pytest.mark.parametrize("batch", [1, 3, 64, 1, 7])
def test_any_batch_size_matches_one_by_one(artifacts: Path, digits, variant: str, batch: int):
    x = digits["x"][:batch]
    with load(artifacts / f"{variant}.tflite", verify=False) as engine:
        together = engine.predict(x)
        single = np.concatenate([engine.predict(x[i : i + 1]) for i in range(batch)])
    assert together.shape == (batch, 10)
    np.testing.assert_allclose(together, single, atol=1e-6)


def test_steady_batch_size_does_not_reallocate(artifacts: Path, digits):
    engine = load(artifacts / "fp32.tflite", verify=False)
    x = digits["x"][:8]
    engine.predict(x)
    session = engine._session
    shapes_before = session._shapes
    engine.predict(x.copy())
    assert session._shapes is shapes_before  # same list object: no resize happened
    engine.predict(digits["x"][:2])
    assert session._shapes[0] == (2, 8, 8, 1)


def test_specs_of_int8_model(artifacts: Path):
    with load(artifacts / "int8.tflite", verify=False) as engine:
        (inp,), (out,) = engine.inputs, engine.outputs
    assert inp.shape == (None, 8, 8, 1)
    assert inp.dtype == "int8" and out.dtype == "int8"
    assert inp.quantization is not None and inp.quantization[0] == pytest.approx(1 / 255)
    assert inp.quantization[1] == -128
    assert inp.describe() == "(N, 8, 8, 1) int8"


def test_int8_values_pass_through_and_raw_outputs(artifacts: Path, digits):
    with load(artifacts / "int8.tflite", verify=False) as engine:
        q = _quantize(digits["x"][:4], engine.inputs[0])
        raw_out = engine.predict(q, raw=True)
        assert raw_out.dtype == np.int8
        deq = engine.predict(q)  # already int8: passed as is, output dequantized
        assert deq.dtype == np.float32
        scale, zp = engine.outputs[0].quantization  # type: ignore[misc]
        np.testing.assert_allclose(deq, (raw_out.astype(np.float32) - zp) * scale)


def test_uint8_model_takes_float_and_uint8(artifacts: Path, digits):
    with load(artifacts / "uint8.tflite", verify=False) as engine:
        x = digits["x"][:5]
        pixels = _quantize(x, engine.inputs[0])
        assert pixels.dtype == np.uint8
        np.testing.assert_array_equal(engine.predict(x), engine.predict(pixels))


def test_float64_lists_and_ints_are_accepted_for_float_models(artifacts: Path, digits):
    x = digits["x"][:2]
    with load(artifacts / "fp32.tflite", verify=False) as engine:
        ref = engine.predict(x)
        np.testing.assert_array_equal(engine.predict(x.astype(np.float64)), ref)
        np.testing.assert_array_equal(engine.predict(x.tolist()), ref)
        np.testing.assert_array_equal(engine.predict({"image": x}), ref)
        np.testing.assert_array_equal(engine.predict({"serving_default_image:0": x}), ref)
        np.testing.assert_array_equal(engine.predict(np.asfortranarray(x)), ref)
        ints = (x * 16).round().astype(np.int64)
        np.testing.assert_allclose(engine.predict(ints), engine.predict(ints.astype(np.float32)))


def test_multi_input_output_tflite(artifacts: Path, digits):
    with load(artifacts / "multi.tflite", verify=False) as engine:
        names = {s.name for s in engine.inputs}
        assert names == {"image", "extra"}
        assert {s.name for s in engine.artifact_inputs} == {
            "serving_default_image:0",
            "serving_default_extra:0",
        }
        x, extra = digits["x"][:3], np.ones((3, 4), np.float32)
        out = engine.predict({"image": x, "extra": extra})
        assert isinstance(out, dict) and set(out) == {s.name for s in engine.outputs}
        assert sorted(v.shape for v in out.values()) == [(3, 2), (3, 10)]
        order = [extra if "extra" in s.name else x for s in engine.inputs]
        listed = engine.predict(order)
        for key in out:
            np.testing.assert_array_equal(out[key], listed[key])


def test_nan_allowed_unless_check_finite(artifacts: Path, digits):
    from edgeship.errors import InvalidInputError

    x = digits["x"][:2].copy()
    x[0, 0, 0, 0] = np.nan
    with load(artifacts / "fp32.tflite", verify=False) as engine:
        assert np.isnan(engine.predict(x)).any()
        with pytest.raises(InvalidInputError, match=r"holds 1 NaN/Inf value\(s\)"):
            engine.predict(x, check_finite=True)
        assert np.isfinite(engine.predict(digits["x"][:2], check_finite=True)).all()


def test_close_and_context_manager(artifacts: Path, digits):
    engine = load(artifacts / "fp32.tflite", verify=False)
    assert isinstance(engine, Engine)
    assert "fp32.tflite" in repr(engine)
    engine.predict(digits["x"][:1])
    engine.close()
    with pytest.raises(BackendError, match="closed"):
        engine.predict(digits["x"][:1])
    with load(artifacts / "fp32.tflite", verify=False) as e2:
        e2.predict(digits["x"][:1])
    with pytest.raises(BackendError, match="closed"):
        e2.predict(digits["x"][:1])


def test_threads_option(artifacts: Path, digits):
    with load(artifacts / "fp32.tflite", threads=2, verify=False) as engine:
        assert engine.predict(digits["x"][:4]).shape == (4, 10)


@pytest.mark.parametrize("variant", ["fp32", "int8", "uint8"])
def test_hot_path_equals_checked_path(artifacts: Path, digits, variant: str):
    """Repeated calls take the precomputed fast path; it must give the checked path's answer."""
    x = digits["x"][5:6].copy()
    with load(artifacts / f"{variant}.tflite", verify=False) as engine:
        first = engine.predict(x)  # checked path; remembers the shape
        assert engine._fast_shape == (1, 8, 8, 1)
        np.testing.assert_array_equal(engine.predict(x), first)
        np.testing.assert_array_equal(engine.predict(x, check_finite=True), first)
        with pytest.raises(InvalidInputError):  # other dtypes still go through the checks
            engine.predict(x.astype(np.complex64))


def test_delegate_placement_walks_each_partition_back_to_its_inputs():
    from edgeship.runtime.backends.tflite import delegate_placement

    # conv -> shape -> reshape -> fc -> softmax; one delegate took conv, another fc + softmax.
    nodes = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 6, 7], "outputs": [8]},
        {"index": 1, "op_name": "SHAPE", "inputs": [8], "outputs": [9]},
        {"index": 2, "op_name": "RESHAPE", "inputs": [8, 9], "outputs": [12]},
        {"index": 3, "op_name": "FULLY_CONNECTED", "inputs": [12, 2, 1], "outputs": [13]},
        {"index": 4, "op_name": "SOFTMAX", "inputs": [13], "outputs": [14]},
        {"index": 5, "op_name": "DELEGATE", "inputs": [0, 6, 7], "outputs": [8]},
        {"index": 6, "op_name": "DELEGATE", "inputs": [1, 2, 12], "outputs": [14]},
    ]
    assert delegate_placement(nodes) == {"ops": 5, "delegated": 3, "cpu": 2, "partitions": 2}
    assert delegate_placement(nodes[:5]) == {"ops": 5, "delegated": 0, "cpu": 5, "partitions": 0}


def test_op_placement_on_a_real_interpreter(artifacts: Path):
    with load(artifacts / "fp32.tflite", backend="litert", verify=False) as engine:
        placed = engine.op_placement()
    assert placed is not None
    # The model's own ops, as the installed converter wrote them (read by a raw interpreter with
    # no delegate), not a count pinned to one converter version.
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    raw = Interpreter(
        str(artifacts / "fp32.tflite"),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    ops = [o["op_name"] for o in raw._get_ops_details()]
    assert "CONV_2D" in ops and "DELEGATE" not in ops
    assert placed["ops"] == len(ops)
    # LiteRT applies XNNPACK by default: conv, fully connected and softmax go to it; the shape
    # arithmetic of the dynamic reshape stays on the CPU.
    n = len(ops)
    assert 1 <= placed["delegated"] < n and placed["cpu"] == n - placed["delegated"]
    assert 1 <= placed["partitions"] <= placed["delegated"]
