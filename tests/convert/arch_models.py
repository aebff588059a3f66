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
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights(
        [
            rng.uniform(0.5, 1.5, gamma.shape),
            rng.normal(0, 0.1, beta.shape),
            rng.normal(0, 0.2, mean.shape),
            rng.uniform(0.5, 2.0, var.shape),
        ]
    )
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


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "mobilenet_v2": mobilenet_v2,
    "multi_io": multi_io,
    "lstm": lstm,
}
