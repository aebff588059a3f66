"""Transfer learning on a ``keras.applications.MobileNetV2`` backbone.

The model takes images in ``[0, 1]`` at the dataset's size, converts grayscale to RGB,
resizes to the backbone size and rescales to ``[-1, 1]`` *inside the model*, so a device feeds
it exactly like the other recipes. Phase 1 trains a new head on the frozen backbone; with
``fine_tune_epochs`` the top of the backbone is unfrozen (batch norm stays frozen) and
trained at a tenth of the learning rate.

ImageNet weights are loaded from a local file (``--weights PATH``, the Keras
``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_<alpha>_<size>_no_top.h5``). Without it
the backbone starts from random weights, with a warning, and is trained with the head
(a frozen random backbone computes nothing useful).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras
from keras import layers

from edgeship.errors import InvalidInputError, ModelLoadError
from edgeship.train.recipes._common import classifier_head, image_input

DEFAULT_LEARNING_RATE = 1e-3
INPUT_KINDS = ("image",)
DEFAULT_IMAGE_SIZE = (96, 96)
MIN_BACKBONE_SIZE = 32
BACKBONE_NAME = "backbone"
FINE_TUNE_FRACTION = 0.3
SCRATCH_BN_MOMENTUM = 0.9


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> keras.Model:
    """Build backbone + head for ``input_shape`` (H, W, 1 or 3) and ``num_classes``."""
    size = tuple(getattr(config, "image_size", None) or DEFAULT_IMAGE_SIZE)
    alpha = float(getattr(config, "alpha", 0.35))
    weights = getattr(config, "weights", None)
    if min(size) < MIN_BACKBONE_SIZE:
        raise InvalidInputError(
            f"MobileNetV2 needs a backbone input of at least {MIN_BACKBONE_SIZE}x"
            f"{MIN_BACKBONE_SIZE}. Got image_size {size}. Pass --image-size 96 (or more)."
        )
    if input_shape[-1] not in (1, 3):
        raise InvalidInputError(
            f"MobileNetV2 takes grayscale or RGB images. Got {input_shape[-1]} channels."
        )
    inputs = image_input(input_shape)
    x = inputs
    if input_shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if tuple(input_shape[:2]) != size:
        x = layers.Resizing(size[0], size[1], name="resize")(x)
    x = layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(x)
    backbone = _backbone(size, alpha, weights)
    if weights is not None:
        # transfer learning: frozen backbone, batch norm in inference mode (also when the
        # top is unfrozen for fine-tuning)
        backbone.trainable = False
        x = backbone(x, training=False)
    else:
        # random weights: a frozen random backbone would learn nothing, so it trains too,
        # with faster-moving batch norm statistics (small datasets, few steps)
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = SCRATCH_BN_MOMENTUM
        x = backbone(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="mobilenetv2_transfer")


def _backbone(size: tuple[int, ...], alpha: float, weights: str | None) -> keras.Model:
    if weights is None:
        warnings.warn(
            "mobilenetv2: no --weights file given, so the backbone starts from random "
            "weights (no download here) and is trained from scratch. For transfer learning, "
            "pass the local Keras file "
            f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size[0]}_no_top.h5.",
            UserWarning,
            stacklevel=3,
        )
    elif not Path(weights).is_file():
        raise ModelLoadError(f"Weights file {weights} does not exist. Expected a local .h5 file.")
    try:
        return keras.applications.MobileNetV2(
            input_shape=(size[0], size[1], 3),
            alpha=alpha,
            include_top=False,
            weights=weights,
            pooling="avg",
            name=BACKBONE_NAME,
        )
    except (ValueError, OSError) as exc:
        raise ModelLoadError(
            f"Cannot load MobileNetV2 weights from {weights}: {exc}. Expected the no-top "
            f"weights for alpha={alpha} and input size {size[0]}."
        ) from exc


def unfreeze(model: keras.Model) -> None:
    """Unfreeze the top of the backbone for fine-tuning (batch norm layers stay frozen)."""
    backbone = model.get_layer(BACKBONE_NAME)
    backbone.trainable = True
    first = int(len(backbone.layers) * (1 - FINE_TUNE_FRACTION))
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= first and not isinstance(layer, layers.BatchNormalization)
