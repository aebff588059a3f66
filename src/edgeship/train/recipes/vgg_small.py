"""A small VGG-style network: blocks of two 3x3 convolutions (batch-normalised) followed by
max pooling, filters doubling per block (32, 64, 128), global average pooling, dropout and a
dense classifier. Pooling stops once the feature map is 1x1, so 8x8 inputs work too.
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
BLOCK_FILTERS = (32, 64, 128)


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> keras.Model:
    """Build the small VGG for ``input_shape`` (H, W, C) and ``num_classes``."""
    inputs = image_input(input_shape)
    x = inputs
    for block, filters in enumerate(BLOCK_FILTERS, start=1):
        for conv in (1, 2):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = maybe_pool(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(128, activation="relu", name="fc")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="vgg_small")
