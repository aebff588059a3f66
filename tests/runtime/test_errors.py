"""Bad input and bad files give typed errors whose messages say what, expected, got and how."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import (
    BackendError,
    ConfigError,
    EdgeshipError,
    InvalidInputError,
    ModelLoadError,
)
from edgeship.runtime import available_backends, load
from runtime.conftest import TFLITE_BACKENDS
from runtime.hosts import delegate_loads, needs_tflite_runtime


@pytest.fixture(scope="module")
def fp32(artifacts: Path):
    with load(artifacts / "fp32.tflite", verify=False) as engine:
        yield engine


def test_missing_batch_axis_message(fp32):
    with pytest.raises(InvalidInputError) as err:
        fp32.predict(np.zeros((8, 8, 1)))
    assert str(err.value) == (
        "input 'image' expects (N, 8, 8, 1) float32, got (8, 8, 1) float64"
        " — add a batch axis: x[None]"
    )


def test_image_without_batch_and_channel_axes(fp32):
    with pytest.raises(InvalidInputError) as err:
        fp32.predict(np.zeros((8, 8)))
    assert str(err.value) == (
        "input 'image' expects (N, 8, 8, 1) float32, got (8, 8) float64"
        " — add a batch axis: x.reshape(1, 8, 8, 1)"
    )


def test_wrong_rank_message(fp32):
    with pytest.raises(
        InvalidInputError, match=r"expects \(N, 8, 8, 1\) float32, got \(8, 9\) float64$"
    ):
        fp32.predict(np.zeros((8, 9)))


def test_wrong_inner_dims_message(fp32):
    with pytest.raises(InvalidInputError, match=r"got \(2, 8, 8, 3\) float32$"):
        fp32.predict(np.zeros((2, 8, 8, 3), np.float32))


def test_extra_leading_axis_hint(fp32):
    with pytest.raises(InvalidInputError, match=r"remove the extra leading axis"):
        fp32.predict(np.zeros((1, 2, 8, 8, 1), np.float32))


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (np.array([["a"]]), r"got \(1, 1\) str\d* values\. Pass numbers\."),
        ("hello", r"got \(\) str\d* values"),
        ([[1, 2], [3]], r"numpy cannot turn into an array .*no ragged nested lists"),
        (np.zeros((1, 8, 8, 1), complex), r"complex128 values"),
        (np.zeros((1, 8, 8, 1), bool), r"Cast with x\.astype\('float32'\)"),
        (np.zeros((0, 8, 8, 1), np.float32), r"empty batch \(0 samples\)"),
        ({"nope": np.zeros((1, 8, 8, 1))}, r"Unknown input name\(s\) \['nope'\]\. Expected: "),
    ],
)
def test_bad_values(fp32, value, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        fp32.predict(value)


def test_invalid_input_is_a_value_error(fp32):
    with pytest.raises(ValueError):
        fp32.predict(np.zeros((3,)))


def test_multi_input_errors(artifacts: Path):
    with load(artifacts / "multi.tflite", verify=False) as engine:
        with pytest.raises(
            InvalidInputError, match=r"takes 2 inputs .* got a ndarray\. Pass a list"
        ):
            engine.predict(np.zeros((1, 8, 8, 1)))
        with pytest.raises(InvalidInputError, match=r"Missing input\(s\) \['extra'\]"):
            engine.predict({"image": np.zeros((1, 8, 8, 1))})
        with pytest.raises(InvalidInputError, match=r"same batch size .*'extra': 2"):
            engine.predict({"image": np.zeros((1, 8, 8, 1)), "extra": np.zeros((2, 4))})


def test_raw_integers_out_of_range(artifacts: Path):
    with load(artifacts / "int8.tflite", verify=False) as engine:
        with pytest.raises(
            InvalidInputError, match=r"values in \[300, 300\], outside the int8 range"
        ):
            engine.predict(np.full((1, 8, 8, 1), 300, np.int64), raw=True)
        with pytest.raises(InvalidInputError, match="non-integer floats"):
            engine.predict(np.full((1, 8, 8, 1), 0.5), raw=True)


def test_nan_into_a_quantized_input_is_refused(artifacts: Path):
    """NaN has no int8 value: quantizing it would give a confident answer to nothing."""
    x = np.full((2, 8, 8, 1), 0.5, np.float32)
    x[1, 3, 3, 0] = np.nan
    with load(artifacts / "int8.tflite", verify=False) as engine:
        with pytest.raises(InvalidInputError, match=r"holds 1 NaN value\(s\).*int8"):
            engine.predict(x)
        saturated = engine.predict(np.full((1, 8, 8, 1), np.inf, np.float32))  # clips, fine
        assert np.isfinite(saturated).all()


def test_path_and_threads_types(artifacts: Path):
    with pytest.raises(ConfigError, match=r"path must be a file path"):
        load(None, verify=False)  # type: ignore[arg-type]
    with load(artifacts / "fp32.tflite", threads=np.int64(2), verify=False) as engine:
        assert engine.predict(np.zeros((1, 8, 8, 1), np.float32)).shape == (1, 10)


def test_one_input_given_twice_and_a_list_of_one(fp32):
    x = np.zeros((1, 8, 8, 1), np.float32)
    name = fp32.artifact_inputs[0].name  # the artifact's name and the model's: one input
    with pytest.raises(InvalidInputError, match="is given twice"):
        fp32.predict({name: x, fp32.inputs[0].name: x + 1})
    np.testing.assert_array_equal(fp32.predict([x]), fp32.predict(x))  # inputs in order


# ----------------------------------------------------------------------------- files
def test_missing_file(tmp_path: Path):
    with pytest.raises(ModelLoadError, match=r"missing\. Expected a \.tflite or \.onnx model file"):
        load(tmp_path / "nope.tflite")
    with pytest.raises(ModelLoadError, match="is a directory"):
        load(tmp_path)


def test_empty_file(tmp_path: Path):
    (tmp_path / "m.tflite").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"is empty \(0 bytes\)"):
        load(tmp_path / "m.tflite")


def test_onnx_renamed_to_tflite(artifacts: Path, tmp_path: Path):
    shutil.copy(artifacts / "fp32.onnx", tmp_path / "model.tflite")
    with pytest.raises(ModelLoadError, match=r"looks like an ONNX model: rename it to \.onnx"):
        load(tmp_path / "model.tflite")


def test_tflite_renamed_to_onnx(artifacts: Path, tmp_path: Path):
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "model.onnx")
    with pytest.raises(ModelLoadError, match=r"TFLite flatbuffer .* named \.onnx: rename it"):
        load(tmp_path / "model.onnx")


def test_unknown_format(tmp_path: Path):
    (tmp_path / "model.bin").write_bytes(b"\xff" * 64)
    with pytest.raises(ModelLoadError, match="unknown format"):
        load(tmp_path / "model.bin")


def test_suffixless_files_are_sniffed(artifacts: Path, tmp_path: Path):
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "model")
    with load(tmp_path / "model", verify=False) as engine:
        assert engine.format == "tflite"


@pytest.mark.parametrize("verify", [True, False])
def test_truncated_tflite(artifacts: Path, tmp_path: Path, verify: bool):
    data = (artifacts / "fp32.tflite").read_bytes()
    (tmp_path / "t.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeshipError):
        load(tmp_path / "t.tflite", verify=verify)


def test_random_bytes_with_tflite_header(tmp_path: Path):
    rng = np.random.default_rng(0)
    blob = b"\x1c\x00\x00\x00TFL3" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (tmp_path / "r.tflite").write_bytes(blob)
    with pytest.raises(ModelLoadError):
        load(tmp_path / "r.tflite", verify=False)


def test_corrupt_onnx(tmp_path: Path):
    (tmp_path / "c.onnx").write_bytes(b"\x08\x07" + b"\xff" * 100)
    with pytest.raises(ModelLoadError, match="onnxruntime could not load"):
        load(tmp_path / "c.onnx", verify=False)


# ----------------------------------------------------------------------------- options
def test_unknown_backend(artifacts: Path):
    with pytest.raises(
        ConfigError, match=r"Unknown backend 'tensorrt'\. Expected one of: auto, litert"
    ):
        load(artifacts / "fp32.tflite", backend="tensorrt", verify=False)


def test_backend_for_other_format(artifacts: Path):
    with pytest.raises(
        ConfigError, match=r"'onnxruntime' runs \.onnx files, but this artifact is \.tflite"
    ):
        load(artifacts / "fp32.tflite", backend="onnxruntime", verify=False)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads(artifacts: Path, threads):
    with pytest.raises(ConfigError, match="threads must be a positive integer"):
        load(artifacts / "fp32.tflite", threads=threads, verify=False)


@pytest.mark.parametrize("name", ["fp32.tflite", "fp32.onnx"])
def test_absurd_thread_counts_are_refused_not_crashed(artifacts: Path, name: str):
    """100000 threads segfault LiteRT and hang ONNX Runtime; 2**40 overflows their int."""
    for threads in (100_000, 2**40):
        with pytest.raises(ConfigError, match=r"threads=\d+ is far more than .* Pass at most"):
            load(artifacts / name, threads=threads, verify=False)


def test_bad_verify_value(artifacts: Path):
    with pytest.raises(ConfigError, match="verify must be True, False or None"):
        load(artifacts / "fp32.tflite", verify="yes")  # type: ignore[arg-type]


@pytest.mark.skipif(delegate_loads("edgetpu"), reason="this host has an Edge TPU runtime")
def test_missing_edgetpu_library_is_a_clear_error(artifacts: Path):
    with pytest.raises(
        BackendError, match=r"Could not load the 'edgetpu' delegate from 'libedgetpu"
    ):
        load(artifacts / "int8.tflite", delegate="edgetpu", verify=False)


@pytest.mark.skipif(delegate_loads("gpu"), reason="this host has the TFLite GPU delegate")
def test_missing_gpu_delegate(artifacts: Path):
    with pytest.raises(BackendError, match=r"'gpu' delegate .*pass its path as delegate=PATH"):
        load(artifacts / "fp32.tflite", delegate="gpu", verify=False)


def test_delegate_path_that_does_not_exist(artifacts: Path):
    with pytest.raises(BackendError, match=r"Delegate library '/no/such/lib\.so' does not exist"):
        load(artifacts / "fp32.tflite", delegate="/no/such/lib.so", verify=False)


def test_unknown_delegate_name(artifacts: Path):
    with pytest.raises(ConfigError, match=r"Unknown delegate 'tpu'\. Expected 'edgetpu', 'gpu'"):
        load(artifacts / "fp32.tflite", delegate="tpu", verify=False)


def test_providers_for_tflite_rejected(artifacts: Path):
    with pytest.raises(ConfigError, match="providers= applies to ONNX Runtime only"):
        load(artifacts / "fp32.tflite", providers=["cpu"], verify=False)


def test_delegate_for_onnx_rejected(artifacts: Path):
    with pytest.raises(ConfigError, match="delegate= applies to TFLite only"):
        load(artifacts / "fp32.onnx", delegate="gpu", verify=False)


@needs_tflite_runtime
def test_tflite_runtime_reports_missing_ops(artifacts: Path):
    # verify=True: validated in a fresh child, where tflite-runtime can run even when this
    # test process has imported TensorFlow; the child's typed error comes back.
    with pytest.raises(
        BackendError,
        match=r"tflite-runtime .* lacks\. Try another TFLite backend \(backend='litert'",
    ):
        load(artifacts / "dynamic.tflite", backend="tflite-runtime", verify=True)


def test_a_quantized_input_says_floats_are_welcome(artifacts):
    expected = r"int8 \(or float, quantized for you\), got"
    with (
        load(artifacts / "int8.tflite", verify=False) as engine,
        pytest.raises(InvalidInputError, match=expected),
    ):
        engine.predict(np.zeros((2, 5), np.float32))


def test_advice_never_names_the_backend_in_use():
    from edgeship.runtime.backends.tflite import _advice

    for name in ("litert", "tflite-runtime", "tf-lite"):
        text = _advice(name)
        assert f"backend={name!r}" not in text and "Try another TFLite backend" in text


def _edge_tpu_compiled(source: Path, target: Path) -> Path:
    """``source`` with its first operator turned into the Edge TPU compiler's custom op."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    flatbuffers = pytest.importorskip("flatbuffers")
    model = schema.ModelT.InitFromPackedBuf(source.read_bytes(), 0)
    code = model.operatorCodes[model.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "edgetpu-custom-op"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    target.write_bytes(bytes(builder.Output()))
    return target


@pytest.mark.parametrize(
    ("backend", "verify"),
    [("litert", False), *((b, True) for b in TFLITE_BACKENDS if b in available_backends())],
)
def test_an_edge_tpu_compiled_model_on_the_cpu_names_the_delegate(
    artifacts: Path, tmp_path: Path, backend: str, verify: bool
):
    """Every TFLite backend (checked in a child, where each can load) names the delegate."""
    path = _edge_tpu_compiled(artifacts / "int8.tflite", tmp_path / "int8_edgetpu.tflite")
    with pytest.raises(BackendError) as caught:
        load(path, backend=backend, verify=verify)
    message = str(caught.value)
    assert message.endswith(
        f"{path} was compiled for the Edge TPU: it holds the custom op 'edgetpu-custom-op', "
        "which only the Edge TPU delegate runs. Load it with delegate='edgetpu' (--delegate "
        "edgetpu) on a machine with an Edge TPU (Coral USB, PCIe or Dev Board) and its "
        "runtime (libedgetpu); on a CPU, run the .tflite it was compiled from instead."
    )
    assert "Try another TFLite backend" not in message
