"""Layers shared by the recipes."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

OUTPUT_NAME = "probabilities"


def image_input(input_shape: tuple[int, ...]) -> Any:
    """The model input for images, named ``image``."""
    return keras.Input(shape=input_shape, name="image", dtype="float32")


def classifier_head(x: Any, num_classes: int) -> Any:
    """Dense logits then a float32 softmax (kept float32 under mixed precision)."""
    x = layers.Dense(num_classes, name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name=OUTPUT_NAME)(x)


def maybe_pool(x: Any, pool: int = 2, min_size: int = 1) -> Any:
    """Max-pool ``x`` only when its spatial size stays >= ``min_size`` after pooling, so a
    recipe written for 28x28 or 32x32 images also fits 8x8 ones."""
    height, width = int(x.shape[1]), int(x.shape[2])
    if min(height, width) < pool * min_size:
        return x
    return layers.MaxPooling2D(pool)(x)
