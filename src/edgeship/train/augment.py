"""Data augmentation with Keras preprocessing layers (the Keras 3 ImageDataGenerator).

The augmentation model runs inside the ``tf.data`` training pipeline only (``training=True``),
never in the model that is saved, so the exported inference model holds no random layers and
validation/test data are never augmented.
"""

from __future__ import annotations

from typing import Any

from edgeship.errors import InvalidInputError


def build_augmentation(input_shape: tuple[int, ...], *, flip: bool = False, seed: int = 0) -> Any:
    """Random rotation (±10°), translation (±10 %) and zoom (±10 %); horizontal flips only
    when ``flip`` (photos, not digits or letters). Returns a ``keras.Sequential``.
    """
    import keras
    from keras import layers

    if len(input_shape) != 3:
        raise InvalidInputError(
            f"Augmentation applies to images (H, W, C). Got shape {input_shape}; "
            "train without --augment."
        )
    steps: list[Any] = [
        layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
    ]
    if flip:
        steps.insert(0, layers.RandomFlip("horizontal", seed=seed + 3))
    return keras.Sequential([keras.Input(shape=input_shape), *steps], name="augmentation")
