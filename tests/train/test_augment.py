"""Augmentation: random in training, identity at inference, flips only where they fit."""

from __future__ import annotations

import numpy as np
import pytest

from edgeship.errors import InvalidInputError
from edgeship.train.augment import build_augmentation


def test_augmentation_changes_images_only_in_training() -> None:
    x = np.zeros((4, 16, 16, 1), np.float32)
    x[:, 4:12, 6:10] = 1.0
    aug = build_augmentation((16, 16, 1), seed=0)
    trained = np.asarray(aug(x, training=True))
    assert trained.shape == x.shape and not np.allclose(trained, x)
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)


def test_flips_only_when_asked() -> None:
    names = [type(layer).__name__ for layer in build_augmentation((8, 8, 3)).layers]
    assert names == ["RandomRotation", "RandomTranslation", "RandomZoom"]
    flipped = [type(layer).__name__ for layer in build_augmentation((8, 8, 3), flip=True).layers]
    assert flipped[0] == "RandomFlip"


def test_augmentation_needs_images() -> None:
    with pytest.raises(InvalidInputError, match="train without --augment"):
        build_augmentation((8, 8))
