"""LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, as in the classic Keras tutorials.

Conv(6, 5x5) - Pool - Conv(16, 5x5) - Pool - Dense(120) - Dense(84) - Dense(classes).
"same" padding and size-aware pooling let it take 8x8 digits as well as 28x28 or 32x32 images.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from edgeship.train.recipes._common import classifier_head, image_input, maybe_pool

DEFAULT_LEARNING_RATE = 1e-2
INPUT_KINDS = ("image",)
MIN_IMAGE_SIZE = 4


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> keras.Model:
    """Build LeNet-5 for ``input_shape`` (H, W, C) and ``num_classes``."""
    inputs = image_input(input_shape)
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="c1")(inputs)
    x = maybe_pool(x)
    x = layers.Conv2D(16, 5, padding="same", activation="relu", name="c3")(x)
    x = maybe_pool(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu", name="c5")(x)
    x = layers.Dense(84, activation="relu", name="f6")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="lenet5")
