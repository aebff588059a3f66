"""Build the bench tests' artifacts (run as a script, in its own process).

``python tests/bench/build_fixtures.py OUT_DIR`` fits a tiny CNN on the scikit-learn digits
for a few epochs and writes ``model.keras``, ``tflite-fp32.tflite``, ``tflite-int8.tflite``
(int8 inputs and outputs), ``onnx-fp32.onnx`` (tf2onnx ``from_function``), ``multi/two-io.tflite``
(two inputs, two outputs, untrained), ``eval.npz`` (200 digits with labels) and
``expected.json`` (the Keras accuracy on them).
TensorFlow is imported here only, never by the code under test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def main(out: Path) -> None:
    import keras
    import tensorflow as tf
    import tf2onnx
    from sklearn.datasets import load_digits

    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]
    y = digits.target.astype(np.int64)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], y[:1500], epochs=10, batch_size=32, verbose=0)
    model.save(out / "model.keras")
    x_eval, y_eval = x[1500:1700], y[1500:1700]
    np.savez(out / "eval.npz", x=x_eval, y=y_eval)
    keras_acc = float(np.mean(np.argmax(model.predict(x_eval, verbose=0), 1) == y_eval))

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (out / "tflite-fp32.tflite").write_bytes(conv.convert())

    def rep():
        for i in range(50):
            yield [x[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (out / "tflite-int8.tflite").write_bytes(conv.convert())

    spec = (tf.TensorSpec((None, 8, 8, 1), tf.float32, name="image"),)
    fn = tf.function(lambda t: model(t, training=False))
    tf2onnx.convert.from_function(
        fn, input_signature=spec, opset=13, output_path=str(out / "onnx-fp32.onnx")
    )
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    two = keras.Model(
        [a, b], [keras.layers.Dense(2, name="p")(joined), keras.layers.Dense(5, name="q")(joined)]
    )
    conv = tf.lite.TFLiteConverter.from_keras_model(two)
    (out / "multi").mkdir(exist_ok=True)
    (out / "multi" / "two-io.tflite").write_bytes(conv.convert())
    (out / "expected.json").write_text(json.dumps({"keras_accuracy": keras_acc}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
