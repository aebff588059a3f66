"""A small AlexNet-style network: five conv layers (large first kernel, then 3x3), max
pooling after the 1st, 2nd and 5th, batch normalisation in place of local response
normalisation, two dropout-regularised dense layers. Scaled down for small images.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from edgeship.train.recipes._common import classifier_head, image_input, maybe_pool

DEFAULT_LEARNING_RATE = 1e-3
INPUT_KINDS = ("image",)
# batch norm statistics must settle within a few hundred steps on small datasets
BN_MOMENTUM = 0.9
MIN_IMAGE_SIZE = 4


def _conv(x: Any, filters: int, kernel: int, name: str) -> Any:
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> keras.Model:
    """Build the small AlexNet for ``input_shape`` (H, W, C) and ``num_classes``."""
    inputs = image_input(input_shape)
    first_kernel = 5 if min(input_shape[:2]) >= 16 else 3
    x = _conv(inputs, 32, first_kernel, "conv1")
    x = maybe_pool(x)
    x = _conv(x, 64, 3, "conv2")
    x = maybe_pool(x)
    x = _conv(x, 96, 3, "conv3")
    x = _conv(x, 96, 3, "conv4")
    x = _conv(x, 64, 3, "conv5")
    x = maybe_pool(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(256, activation="relu", name="fc6")(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(256, activation="relu", name="fc7")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="alexnet_small")
