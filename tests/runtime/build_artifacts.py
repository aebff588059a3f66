"""Build the runtime's test artifacts from tiny models (run as a script, in its own process).

``python tests/runtime/build_artifacts.py OUT_DIR`` writes, from a small CNN fitted on the
scikit-learn digits for ten epochs:

* TFLite: fp32, fp16, dynamic-range, full int8 (int8 I/O), full int8 with uint8 I/O, full
  int8 with float I/O, 16x8 (int16 activations), fixed batch 1, two inputs / two outputs;
* ONNX (tf2onnx ``from_function``): fp32 with a dynamic batch, fp16 with float32 I/O,
  dynamic int8 and QDQ (onnxruntime quantization): the variants convert produces;
* ONNX written with ``onnx.helper`` like other toolchains do: NCHW conv, external weights,
  two inputs / two outputs, uint8 input without quantization parameters;
* ``transposed.tflite``: a transposed convolution whose output size is known only at run time;
* ``data.npz``: digits inputs ``x`` (N, 8, 8, 1) float32, labels ``y`` and Keras outputs.

TensorFlow is imported here only, never by the code under test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    return x, d.target.astype(np.int64)


def build_tflite(out: Path, model, x: np.ndarray) -> None:
    import tensorflow as tf

    def rep():
        for i in range(100):
            yield [x[i : i + 1]]

    def conv(name: str, **kw) -> None:
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        for key, value in kw.items():
            setattr(c, key, value)
        (out / f"{name}.tflite").write_bytes(c.convert())

    opt = [tf.lite.Optimize.DEFAULT]
    conv("fp32")
    conv("fp16", optimizations=opt, target_spec=_spec(tf, [tf.float16]))
    conv("dynamic", optimizations=opt)
    int8 = {"optimizations": opt, "representative_dataset": rep}
    ops = _ops(tf)
    conv(
        "int8", **int8, target_spec=ops, inference_input_type=tf.int8, inference_output_type=tf.int8
    )
    conv(
        "uint8",
        **int8,
        target_spec=_ops(tf),
        inference_input_type=tf.uint8,
        inference_output_type=tf.uint8,
    )
    conv("int8_floatio", **int8, target_spec=_ops(tf))
    spec16 = tf.lite.TargetSpec()
    spec16.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    conv("int16x8", **int8, target_spec=spec16)

    import keras

    inp = keras.Input((8, 8, 1), batch_size=1, name="image")
    fixed = keras.Model(inp, keras.models.clone_model(model)(inp))
    fixed.set_weights(model.get_weights())
    c = tf.lite.TFLiteConverter.from_keras_model(fixed)
    (out / "fixed1.tflite").write_bytes(c.convert())


def _spec(tf, types):
    spec = tf.lite.TargetSpec()
    spec.supported_types = types
    return spec


def _ops(tf):
    spec = tf.lite.TargetSpec()
    spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return spec


def build_multi(out: Path) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    a = keras.Input((8, 8, 1), name="image")
    b = keras.Input((4,), name="extra")
    h = keras.layers.Flatten()(a)
    h = keras.layers.Concatenate()([h, b])
    h = keras.layers.Dense(16, activation="relu")(h)
    p = keras.layers.Dense(10, activation="softmax", name="probs")(h)
    r = keras.layers.Dense(2, name="box")(h)
    model = keras.Model([a, b], [p, r])
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    (out / "multi.tflite").write_bytes(c.convert())


def build_onnx(out: Path, model, x: np.ndarray) -> None:
    import tensorflow as tf
    import tf2onnx

    fn = tf.function(lambda t: model(t))
    sig = [tf.TensorSpec([None, 8, 8, 1], tf.float32, name="x")]
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17)
    (out / "fp32.onnx").write_bytes(proto.SerializeToString())

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": x[i : i + 1]} for i in range(64)])

        def get_next(self):
            return next(self.it, None)

    import onnx
    from onnxconverter_common import float16
    from onnxruntime.quantization import quantize_dynamic

    fp16 = float16.convert_float_to_float16(onnx.load(str(out / "fp32.onnx")), keep_io_types=True)
    onnx.save_model(fp16, str(out / "fp16.onnx"))
    quantize_dynamic(str(out / "fp32.onnx"), str(out / "dynamic.onnx"), weight_type=QuantType.QInt8)
    quantize_static(
        str(out / "fp32.onnx"),
        str(out / "qdq.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def build_foreign_onnx(out: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # The lowest IR version opset 17 needs: onnx's newest IR can be newer than the installed
    # onnxruntime reads (onnx 1.23 writes IR 14; onnxruntime 1.23, the last for 3.10, reads 11).
    OPSET_17 = [helper.make_opsetid("", 17)]
    MIN_IR = helper.find_min_ir_version_for(OPSET_17)

    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 1, 3, 3)).astype(np.float32)
    bias = rng.normal(size=(4,)).astype(np.float32)
    dense = rng.normal(size=(4 * 6 * 6, 10)).astype(np.float32) * 0.1
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(bias, "b"),
        numpy_helper.from_array(dense, "dense"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "flat"], ["f"]),
        helper.make_node("MatMul", ["f", "dense"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nchw",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=OPSET_17, ir_version=MIN_IR)
    onnx.save_model(model, str(out / "nchw.onnx"))
    (out / "external").mkdir()
    onnx.save_model(
        model,
        str(out / "external" / "ext.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="ext.weights",
        size_threshold=1024,
    )

    # two inputs, two outputs
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Mul", ["a", "b"], ["prod"]),
        ],
        "multi",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["n", 3]),
            helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["n", 3]),
        ],
    )
    onnx.save_model(
        helper.make_model(graph, opset_imports=OPSET_17, ir_version=MIN_IR),
        str(out / "multi.onnx"),
    )

    # uint8 image input, no quantization parameters: raw pixel values in, fixed batch 2
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["pf"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["pf"], ["mean"], axes=[1, 2, 3], keepdims=0),
        ],
        "uint8in",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, [2, 4, 4, 3])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [2])],
    )
    onnx.save_model(
        helper.make_model(graph, opset_imports=OPSET_17, ir_version=MIN_IR),
        str(out / "uint8_raw.onnx"),
    )


def build_transposed(out: Path) -> None:
    """``transposed.tflite``: a small autoencoder (transposed convolution, upsampling) whose
    output's spatial size the converter leaves free (shape signature -1 past the batch)."""
    import keras
    import tensorflow as tf

    inp = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(2, 3, strides=2, padding="same")(inp)
    h = keras.layers.Conv2D(2, 3, strides=2, padding="same")(h)
    h = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(h)
    h = keras.layers.UpSampling2D()(h)
    model = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same")(h))
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    (out / "transposed.tflite").write_bytes(c.convert())


def main(out: Path) -> None:
    import keras

    out.mkdir(parents=True, exist_ok=True)
    x, y = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    np.savez(out / "data.npz", x=x, y=y, keras=model.predict(x, verbose=0))
    build_tflite(out, model, x)
    build_multi(out)
    build_transposed(out)
    build_onnx(out, model, x)
    build_foreign_onnx(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
