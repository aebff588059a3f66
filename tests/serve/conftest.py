"""Fixtures for the server tests: tiny real artifacts and one running server per session.

The artifacts come from a small Keras CNN on 8x8 digits converted with the real converters
(TFLiteConverter, tf2onnx.from_function). The fixtures may import TensorFlow; the server
under test never does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import ModelCard, Preprocessing, TensorInfo
from edgeship.fileio import atomic_write_bytes, atomic_write_json, sha256_file
from edgeship.serve import Server, ServeSettings, create_server

LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Artifacts:
    """Paths of the tiny test artifacts and a few real digit samples (raw 0..16 values)."""

    convert_dir: Path  # convert-style directory: manifest.json, card, 3 ok + 1 failed variant
    fp32_tflite: Path
    int8_tflite: Path
    fp32_onnx: Path
    multi_dir: Path  # a two-input, two-output model (directory without a manifest)
    digits: np.ndarray  # (32, 8, 8, 1) float32, already scaled to the model's input range


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[..., None]
    return x, data.target.astype(np.int64)


def _tiny_cnn(x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(h)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    return model


def _tflite(model, calib: np.ndarray | None = None) -> bytes:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if calib is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(100))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def _onnx(model, path: Path) -> None:  # type: ignore[no-untyped-def]
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name="image")]
    fn = tf.function(lambda x: model(x, training=False))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=13)
    atomic_write_bytes(path, proto.SerializeToString())


def _multi_io(path: Path) -> None:
    import keras

    keras.utils.set_random_seed(1)
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    out1 = keras.layers.Dense(2, name="first")(joined)
    out2 = keras.layers.Dense(3, activation="softmax", name="second")(joined)
    atomic_write_bytes(path, _tflite(keras.Model([a, b], [out1, out2])))


def _manifest(directory: Path, variants: dict[str, str], failed: str) -> None:
    entries = [
        {
            "name": name,
            "file": file,
            "sha256": sha256_file(directory / file),
            "size_bytes": (directory / file).stat().st_size,
            "status": "ok",
        }
        for name, file in variants.items()
    ]
    entries.append({"name": failed, "file": failed + ".tflite", "status": "failed"})
    atomic_write_json(
        directory / "manifest.json", {"schema": "edgeship.manifest/1", "variants": entries}
    )


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """Build the tiny artifacts once per session."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    x, y = _digits()
    model = _tiny_cnn(x, y)
    out = tmp_path_factory.mktemp("serve_artifacts")
    conv = out / "converted"
    conv.mkdir()
    atomic_write_bytes(conv / "tflite-fp32.tflite", _tflite(model))
    atomic_write_bytes(conv / "tflite-int8.tflite", _tflite(model, calib=x))
    _onnx(model, conv / "onnx-fp32.onnx")
    # A failed variant's file exists but must never be served.
    atomic_write_bytes(conv / "tflite-dynamic.tflite", b"not a model")
    _manifest(
        conv,
        {
            "tflite-fp32": "tflite-fp32.tflite",
            "tflite-int8": "tflite-int8.tflite",
            "onnx-fp32": "onnx-fp32.onnx",
        },
        failed="tflite-dynamic",
    )
    ModelCard(
        name="tiny-digits",
        inputs=(TensorInfo("image", (None, 8, 8, 1)),),
        outputs=(TensorInfo("probs", (None, 10)),),
        labels=LABELS,
        preprocessing=Preprocessing(
            scale=1 / 16, image_size=(8, 8), color_mode="grayscale", layout="NHWC"
        ),
    ).save(conv)
    multi = out / "multi"
    multi.mkdir()
    _multi_io(multi / "multi.tflite")
    return Artifacts(
        convert_dir=conv,
        fp32_tflite=conv / "tflite-fp32.tflite",
        int8_tflite=conv / "tflite-int8.tflite",
        fp32_onnx=conv / "onnx-fp32.onnx",
        multi_dir=multi,
        digits=np.ascontiguousarray(x[:32]),
    )


def runtime_load():  # type: ignore[no-untyped-def]
    """``edgeship.runtime.load``: the engines the server must agree with."""
    from edgeship.runtime import load

    return load


@pytest.fixture(scope="session")
def loader():  # type: ignore[no-untyped-def]
    """``edgeship.runtime.load`` as a fixture."""
    return runtime_load()


@pytest.fixture(scope="session")
def server(artifacts: Artifacts) -> Iterator[Server]:
    """One server on a free loopback port holding the convert directory and the multi model."""
    srv = create_server(
        [artifacts.convert_dir, artifacts.multi_dir / "multi.tflite"],
        ServeSettings(port=0, max_body_bytes=1024 * 1024, request_timeout_s=5),
        workers=2,
        loader=runtime_load(),
    )
    with srv:
        yield srv


@pytest.fixture(scope="session")
def engines(artifacts: Artifacts) -> Iterator[dict[str, object]]:
    """Reference engines, loaded in-process through ``edgeship.runtime.load``."""
    load = runtime_load()
    loaded = {
        "tflite-fp32": load(str(artifacts.fp32_tflite)),
        "tflite-int8": load(str(artifacts.int8_tflite)),
        "onnx-fp32": load(str(artifacts.fp32_onnx)),
        "multi": load(str(artifacts.multi_dir / "multi.tflite")),
    }
    yield loaded
    for engine in loaded.values():
        engine.close()  # type: ignore[attr-defined]


def call(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: ``(status, headers (lower-case), body)``."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="session")
def http(server: Server):  # type: ignore[no-untyped-def]
    """``http(method, path, body=b"", headers=None) -> (status, headers, body)`` on the server."""

    def _call(
        method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return call(server, method, path, body, headers)

    return _call
