"""The classic Keras MNIST CNN: Conv-Conv-MaxPool-Dropout-Flatten-Dense-Dropout-Dense."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from edgeship.train.recipes._common import classifier_head, image_input

DEFAULT_LEARNING_RATE = 3e-3
INPUT_KINDS = ("image",)
MIN_IMAGE_SIZE = 6


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> keras.Model:
    """Build the MNIST CNN for ``input_shape`` (H, W, C) and ``num_classes``."""
    inputs = image_input(input_shape)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", name="fc")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="mnist_cnn")
