"""Small Keras models with random weights, one per architecture family convert must handle.

Each builder saves ``model.keras`` plus ``calibration.npz`` and ``eval.npz`` (random inputs in
the model's input range) into a directory and returns it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.samples import save_samples

SEED = 0


def randomize_batchnorm(bn: Any, rng: np.random.Generator) -> None:
    """Give a BatchNormalization layer non-trivial scale, shift and running statistics."""
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights(
        [
            rng.uniform(0.5, 1.5, gamma.shape),
            rng.normal(0, 0.1, beta.shape),
            rng.normal(0, 0.2, mean.shape),
            rng.uniform(0.5, 2.0, var.shape),
        ]
    )


def _save(model: Any, out: Path, inputs: dict[str, np.ndarray], count: int = 40) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    save_samples(out / "calibration.npz", {k: v[:count] for k, v in inputs.items()})
    save_samples(out / "eval.npz", {k: v[count:] for k, v in inputs.items()})
    return out


def mobilenet_v2(out: Path) -> Path:
    """keras.applications.MobileNetV2, alpha 0.35, 96x96x3, 10 classes, random weights."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-1, 1, (60, 96, 96, 3)).astype("float32")
    return _save(model, out, {model.inputs[0].name: x})


def multi_io(out: Path) -> Path:
    """Functional model with two inputs and two outputs whose image branch holds Resizing,
    Rescaling, BatchNormalization (non-trivial statistics), Dropout and GlobalAveragePooling2D.

    Inputs: ``pixels`` (24x24x3, raw 0..255) and ``meta`` (4 floats); outputs: ``scores``
    (5-class softmax) and ``value`` (linear regression head).
    """
    import keras

    keras.utils.set_random_seed(SEED)
    pixels = keras.Input((24, 24, 3), name="pixels")
    meta = keras.Input((4,), name="meta")
    h = keras.layers.Resizing(16, 16)(pixels)
    h = keras.layers.Rescaling(1.0 / 255)(h)
    h = keras.layers.Conv2D(8, 3, padding="same")(h)
    bn = keras.layers.BatchNormalization()
    h = keras.layers.ReLU()(bn(h))
    h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Concatenate()([h, keras.layers.Dense(8, activation="relu")(meta)])
    scores = keras.layers.Dense(5, activation="softmax", name="scores")(h)
    value = keras.layers.Dense(1, name="value")(h)
    model = keras.Model([pixels, meta], [scores, value])
    rng = np.random.default_rng(SEED)
    randomize_batchnorm(bn, rng)
    inputs = {
        "pixels": rng.integers(0, 256, (60, 24, 24, 3)).astype("float32"),
        "meta": rng.random((60, 4), dtype=np.float32),
    }
    return _save(model, out, inputs)


def lstm(out: Path) -> Path:
    """Sequence classifier: LSTM over 12 steps of 5 features."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((12, 5), name="sequence")
    h = keras.layers.LSTM(16)(inp)
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"sequence": rng.random((60, 12, 5), dtype=np.float32)})


def bn_dropout_gap(out: Path) -> Path:
    """Conv2D + BatchNormalization (non-trivial statistics) + Dropout + GlobalAveragePooling2D."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((16, 16, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same")(inp)
    bn = keras.layers.BatchNormalization()
    h = keras.layers.Dropout(0.25)(keras.layers.ReLU()(bn(h)))
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(6, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    randomize_batchnorm(bn, rng)
    return _save(model, out, {"image": rng.random((60, 16, 16, 3), dtype=np.float32)})


def rescaling_resizing(out: Path) -> Path:
    """Raw 0..255 pixels resized and rescaled inside the model, then a small CNN."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((28, 28, 3), name="pixels")
    h = keras.layers.Resizing(16, 16)(inp)
    h = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(h)
    h = keras.layers.Conv2D(8, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    x = rng.integers(0, 256, (60, 28, 28, 3)).astype("float32")
    return _save(model, out, {"pixels": x})


def transformer(out: Path) -> Path:
    """Transformer encoder block: MultiHeadAttention + LayerNormalization + exact GELU."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((16, 32), name="tokens")
    attn = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(inp, inp)
    h = keras.layers.LayerNormalization()(inp + attn)
    ff = keras.layers.Dense(64, activation="gelu")(h)
    ff = keras.layers.Dense(32)(ff)
    h = keras.layers.LayerNormalization()(h + ff)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"tokens": rng.normal(0, 1, (60, 16, 32)).astype("float32")})


def text_classifier(out: Path) -> Path:
    """int32 token ids -> Embedding -> GlobalAveragePooling1D -> Dense."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((20,), dtype="int32", name="token_ids")
    h = keras.layers.Embedding(100, 16)(inp)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(16, activation="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"token_ids": rng.integers(0, 100, (60, 20)).astype("int32")})


def bidirectional_gru(out: Path) -> Path:
    """Bidirectional GRU over 10 steps of 6 features."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((10, 6), name="sequence")
    h = keras.layers.Bidirectional(keras.layers.GRU(8))(inp)
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"sequence": rng.random((60, 10, 6), dtype=np.float32)})


def conv1d(out: Path) -> Path:
    """Conv1D + SeparableConv1D + MaxPooling1D over 32 steps of 4 channels."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((32, 4), name="signal")
    h = keras.layers.Conv1D(8, 5, activation="relu")(inp)
    h = keras.layers.SeparableConv1D(16, 3, activation="relu")(h)
    h = keras.layers.MaxPooling1D()(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"signal": rng.normal(0, 1, (60, 32, 4)).astype("float32")})


def _application(name: str, out: Path) -> Path:
    import keras

    keras.utils.set_random_seed(SEED)
    model = getattr(keras.applications, name)(input_shape=(64, 64, 3), weights=None, classes=10)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, 255, (60, 64, 64, 3)).astype("float32")
    return _save(model, out, {model.inputs[0].name: x})


def efficientnet_b0(out: Path) -> Path:
    """keras.applications.EfficientNetB0, 64x64x3, 10 classes, random weights."""
    return _application("EfficientNetB0", out)


def densenet121(out: Path) -> Path:
    """keras.applications.DenseNet121, 64x64x3, 10 classes, random weights."""
    return _application("DenseNet121", out)


def autoencoder(out: Path) -> Path:
    """Conv2D encoder, Conv2DTranspose + UpSampling2D decoder (image in, image out)."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((16, 16, 1), name="image")
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.UpSampling2D()(h)
    model = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"image": rng.random((60, 16, 16, 1), dtype=np.float32)})


def two_input_named(out: Path) -> Path:
    """Two inputs (``image``, ``features``) whose .npz files are keyed by the input names."""
    import keras

    keras.utils.set_random_seed(SEED)
    image = keras.Input((12, 12, 1), name="image")
    features = keras.Input((6,), name="features")
    h = keras.layers.Conv2D(4, 3, activation="relu")(image)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Concatenate()([h, keras.layers.Dense(4, activation="relu")(features)])
    model = keras.Model([image, features], keras.layers.Dense(3, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    x = {
        "image": rng.random((60, 12, 12, 1), dtype=np.float32),
        "features": rng.normal(0, 1, (60, 6)).astype("float32"),
    }
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    np.savez(out / "calibration.npz", **{k: v[:40] for k, v in x.items()})
    np.savez(out / "eval.npz", **{k: v[40:] for k, v in x.items()})
    return out


def dict_backbone(out: Path) -> Path:
    """A text classifier as the Keras ecosystem builds them: a dict of three int32 inputs
    (``token_ids``, ``segment_ids``, ``padding_mask``) of one dynamic sequence length, fed
    as a dict to a nested transformer backbone model, under a classification head."""
    import keras

    keras.utils.set_random_seed(SEED)
    names = ("token_ids", "segment_ids", "padding_mask")

    def inputs() -> dict[str, Any]:
        return {n: keras.Input((None,), dtype="int32", name=n) for n in names}

    inner = inputs()
    h = keras.layers.Embedding(100, 16)(inner["token_ids"])
    h = h + keras.layers.Embedding(2, 16)(inner["segment_ids"])
    mask = keras.ops.expand_dims(keras.ops.cast(inner["padding_mask"], "float32"), -1)
    h = h * mask
    h = keras.layers.LayerNormalization()(h + keras.layers.MultiHeadAttention(2, 8)(h, h))
    backbone = keras.Model(inner, h, name="backbone")
    outer = inputs()
    pooled = keras.layers.GlobalAveragePooling1D()(backbone(outer))
    model = keras.Model(outer, keras.layers.Dense(3, activation="softmax", name="probs")(pooled))
    rng = np.random.default_rng(SEED)
    lengths = rng.integers(4, 13, 60)
    x = {
        "token_ids": rng.integers(1, 100, (60, 12)).astype("int32"),
        "segment_ids": (np.arange(12)[None, :] >= 6).repeat(60, 0).astype("int32"),
        "padding_mask": (np.arange(12)[None, :] < lengths[:, None]).astype("int32"),
    }
    return _save(model, out, x)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "mobilenet_v2": mobilenet_v2,
    "multi_io": multi_io,
    "lstm": lstm,
    "bn_dropout_gap": bn_dropout_gap,
    "rescaling_resizing": rescaling_resizing,
    "transformer": transformer,
    "text_classifier": text_classifier,
    "bidirectional_gru": bidirectional_gru,
    "conv1d": conv1d,
    "efficientnet_b0": efficientnet_b0,
    "densenet121": densenet121,
    "autoencoder": autoencoder,
    "two_input_named": two_input_named,
    "dict_backbone": dict_backbone,
}


def negation(out: Path) -> Path:
    """Dense -> negation -> Dense: NEG has no 16x8 kernel (int16x8 needs its float route)."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((12,), name="features")
    h = keras.ops.negative(keras.layers.Dense(16)(inp))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"features": rng.normal(0, 1, (60, 12)).astype("float32")})


def gelu_dense(out: Path) -> Path:
    """Dense with GELU: the int8 model holds a GELU operator, which TFLite Micro has no
    kernel for (the microcontroller target must refuse it by name)."""
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((12,), name="features")
    h = keras.layers.Dense(16, activation="gelu")(inp)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"features": rng.normal(0, 1, (60, 12)).astype("float32")})


def grouped_conv(out: Path) -> Path:
    """Conv2D -> grouped (depthwise-like) Conv2D with exact GELU -> pooling -> Dense, as in
    ConvNeXt's blocks.

    Keras on TensorFlow runs a grouped convolution in an XLA-compiled function that grappler
    does not inline: tf2onnx leaves it a ``StatefulPartitionedCall`` node (not ONNX). The
    TFLite converter fuses the GELU, which tf2onnx's tflite reader leaves as ``TFL_GELU``.
    """
    import keras

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((8, 8, 3), name="pixels")
    h = keras.layers.Conv2D(8, 1)(inp)
    h = keras.layers.Conv2D(8, 3, padding="same", groups=8, activation="gelu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="scores")(h))
    rng = np.random.default_rng(SEED)
    return _save(model, out, {"pixels": rng.uniform(-1, 1, (60, 8, 8, 3)).astype("float32")})


#: Models that force one code path of the tests (not part of the zoo).
EXTRA_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "negation": negation,
    "gelu_dense": gelu_dense,
    "grouped_conv": grouped_conv,
}
