"""Model recipes, one module per family, loaded by name.

Every recipe module defines ``DEFAULT_LEARNING_RATE``, ``INPUT_KINDS`` (the dataset kinds it
accepts: ``"image"`` and/or ``"sequence"``) and ``build(input_shape, num_classes, config)``
returning an uncompiled ``keras.Model`` whose input is named ``image`` (or ``sequence``)
and whose float32 softmax output is named ``probabilities``. Recipes adapt to the input
shape and class count; ``check`` rejects data they cannot use before anything is built.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from edgeship.errors import ConfigError, InvalidInputError

RECIPE_MODULES = {
    "mnist-cnn": "mnist_cnn",
    "lenet5": "lenet5",
    "alexnet-small": "alexnet_small",
    "vgg-small": "vgg_small",
    "mobilenetv2": "mobilenetv2",
    "lstm": "lstm",
    "gan": "gan",
}


def get_recipe(name: str) -> ModuleType:
    """Import and return the module of recipe ``name``."""
    if name not in RECIPE_MODULES:
        raise ConfigError(f"Unknown recipe {name!r}. Expected one of: {', '.join(RECIPE_MODULES)}.")
    return importlib.import_module(f"edgeship.train.recipes.{RECIPE_MODULES[name]}")


def check(name: str, kind: str, input_shape: tuple[int, ...]) -> None:
    """Raise :class:`InvalidInputError` when recipe ``name`` cannot take this data."""
    module = get_recipe(name)
    if kind not in module.INPUT_KINDS:
        raise InvalidInputError(
            f"Recipe {name!r} expects {' or '.join(module.INPUT_KINDS)} data. Got {kind} data "
            f"of shape {input_shape} per sample. Pick another recipe or dataset."
        )
    min_size = getattr(module, "MIN_IMAGE_SIZE", 1)
    if kind == "image" and min(input_shape[:2]) < min_size:
        raise InvalidInputError(
            f"Recipe {name!r} needs images of at least {min_size}x{min_size}. Got "
            f"{input_shape[0]}x{input_shape[1]}. Resize the data or pick another recipe."
        )
