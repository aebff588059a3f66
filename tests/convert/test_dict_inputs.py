"""A model whose inputs are a dict around a nested backbone converts, keeps its dynamic
sequence length, and its artifacts answer the bare interpreters fed by input name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

Getter = Callable[[str], dict[str, Any]]
NAMES = ("token_ids", "segment_ids", "padding_mask")


@pytest.fixture(scope="module")
def dict_model(arch_dirs: Callable[[str], Path], arch_converted: Getter):
    """(Keras model, converted artifacts folder, manifest) of the dict-input backbone model."""
    import keras

    manifest = arch_converted("dict_backbone")
    model = keras.models.load_model(arch_dirs("dict_backbone") / "model.keras", compile=False)
    return model, Path(manifest["_out"]), manifest


def _feed(length: int, batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(length)
    return {
        "token_ids": rng.integers(1, 100, (batch, length)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (batch, length)).astype("int32"),
        "padding_mask": np.ones((batch, length), "int32"),
    }


def _base_name(name: str) -> str:
    """An artifact's input name without the SavedModel signature's decoration."""
    return name.removeprefix("serving_default_").split(":")[0]


def test_the_fp32_variants_match_keras(dict_model) -> None:
    _, _, manifest = dict_model
    for record in manifest["variants"]:
        assert record["status"] == "ok", (record["name"], record["errors"])
        assert record["parity"]["max_abs_error"] < 1e-4, record["parity"]


@pytest.mark.parametrize("length", [12, 5])
def test_litert_fed_by_name_matches_keras_at_any_length(dict_model, length: int) -> None:
    from ai_edge_litert.interpreter import Interpreter

    model, out, _ = dict_model
    feed = _feed(length)
    interpreter = Interpreter(model_path=str(out / "tflite-fp32.tflite"))
    details = interpreter.get_input_details()
    assert sorted(_base_name(d["name"]) for d in details) == sorted(NAMES)
    for d in details:  # the sequence length stayed dynamic: any length is accepted
        assert list(d["shape_signature"]) == [-1, -1]
        interpreter.resize_tensor_input(d["index"], feed[_base_name(d["name"])].shape)
    interpreter.allocate_tensors()
    for d in details:
        interpreter.set_tensor(d["index"], feed[_base_name(d["name"])])
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = np.asarray(model(feed, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("length", [12, 5])
def test_onnxruntime_fed_by_name_matches_keras_at_any_length(dict_model, length: int) -> None:
    import onnxruntime as ort

    model, out, _ = dict_model
    feed = _feed(length)
    session = ort.InferenceSession(str(out / "onnx-fp32.onnx"), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == sorted(NAMES)
    [got] = session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})
    expected = np.asarray(model(feed, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_the_source_feeds_a_dict_model_by_name() -> None:
    import keras

    from edgeship.convert.source import structured_inputs

    a = keras.Input((2,), name="b_second")
    b = keras.Input((2,), name="a_first")
    model = keras.Model({"b_second": a, "a_first": b}, keras.layers.Subtract()([a, b]))
    flat = [np.full((1, 2), float(i), "float32") for i in range(2)]  # model.inputs order
    packed = structured_inputs(model, flat)
    assert set(packed) == {"a_first", "b_second"}
    order = [t.name for t in model.inputs]
    for name, x in zip(order, flat, strict=True):
        assert packed[name] is x
    single = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert structured_inputs(single, flat[:1]) is flat[0]


def test_input_shapes_fix_the_sequence_length(arch_dirs: Callable[[str], Path], tmp_path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from edgeship.convert import convert

    shapes = [f"{name}=1x12" for name in NAMES]
    manifest = convert(
        arch_dirs("dict_backbone") / "model.keras",
        tmp_path / "fixed",
        variants=("tflite-fp32",),
        options={"input_shapes": shapes},
        check_runtimes=False,
    )
    [record] = manifest["variants"]
    assert record["status"] == "ok" and record["parity"]["max_abs_error"] < 1e-4
    assert manifest["options"]["input_shapes"] == shapes
    interpreter = Interpreter(model_path=str(tmp_path / "fixed" / "tflite-fp32.tflite"))
    for detail in interpreter.get_input_details():
        assert list(detail["shape_signature"]) == [1, 12]


def test_served_variants_answer_tritonclient_by_input_name(dict_model) -> None:
    thttp = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in dev")
    from edgeship.runtime import load
    from edgeship.serve import ServeSettings, create_server

    model, out, _ = dict_model
    feed = _feed(12, batch=2)
    expected = np.asarray(model(feed, training=False))
    srv = create_server([out], ServeSettings(port=0), workers=1, loader=load)
    with srv:
        client = thttp.InferenceServerClient(f"127.0.0.1:{srv.port}")
        for variant in ("tflite-fp32", "onnx-fp32"):
            meta = client.get_model_metadata(variant)
            assert sorted(i["name"] for i in meta["inputs"]) == sorted(NAMES), meta
            requests = []
            for name in NAMES:
                request = thttp.InferInput(name, list(feed[name].shape), "INT32")
                request.set_data_from_numpy(feed[name])
                requests.append(request)
            result = client.infer(variant, requests)
            got = result.as_numpy(meta["outputs"][0]["name"])
            np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=variant)
