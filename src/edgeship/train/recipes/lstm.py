"""An LSTM sequence classifier. Sequences ``(T, F)`` go in as they are; images ``(H, W, C)``
are read row by row (``T = H`` steps of ``F = W * C`` features), e.g. 8x8 digits as 8 steps.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from edgeship.train.recipes._common import classifier_head

DEFAULT_LEARNING_RATE = 3e-3
INPUT_KINDS = ("sequence", "image")
UNITS = 64


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> keras.Model:
    """Build the LSTM classifier for ``input_shape`` and ``num_classes``."""
    if len(input_shape) == 3:
        inputs = keras.Input(shape=input_shape, name="image", dtype="float32")
        height, width, channels = input_shape
        x = layers.Reshape((height, width * channels), name="rows")(inputs)
    else:
        inputs = keras.Input(shape=input_shape, name="sequence", dtype="float32")
        x = inputs
    x = layers.LSTM(UNITS, name="lstm")(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="lstm")
