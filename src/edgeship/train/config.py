"""Training settings: one frozen dataclass, validated before any work starts.

This module imports only the standard library, so ``edgeship train --help`` and config
checks never load TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from edgeship.errors import ConfigError
from edgeship.train.backends import default_backend, lookup


class Strategy(str, Enum):
    """How training is distributed (``tf.distribute``)."""

    DEFAULT = "default"
    MIRRORED = "mirrored"
    MULTI_WORKER = "multi-worker"


class ComputePrecision(str, Enum):
    """Compute precision of the layers while training (the output layer always stays float32).

    Not the numeric scheme of a converted variant (``edgeship.convert.variants.Precision``).
    """

    FLOAT32 = "float32"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"


#: The former name of :class:`ComputePrecision`, kept for existing callers.
Precision = ComputePrecision


RECIPE_NAMES = (
    "mnist-cnn",
    "lenet5",
    "alexnet-small",
    "vgg-small",
    "mobilenetv2",
    "lstm",
    "gan",
)

DATASET_NAMES = ("digits", "digits-seq", "mnist", "fashion_mnist", "cifar10")
DATASET_PREFIXES = ("npz:", "dir:")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run.

    Attributes:
        recipe: model recipe, one of :data:`RECIPE_NAMES`.
        dataset: ``digits`` (default), ``digits-seq``, ``mnist``, ``fashion_mnist``,
            ``cifar10``, ``npz:PATH`` or ``dir:PATH``.
        epochs: maximum training epochs (early stopping may end sooner).
        batch_size: batch size per replica; the global batch is this times the replica count.
        out: output directory.
        seed: seed for splits, shuffling and weight initialisation.
        learning_rate: initial learning rate; None uses the recipe's default.
        validation_split: fraction of the training data held out for validation.
        test_split: fraction held out for testing when the dataset has no test split.
        augment: apply random rotation/translation/zoom (and flips where they make sense)
            during training only; the saved model never contains these layers.
        strategy: ``default``, ``mirrored`` (all local GPUs) or ``multi-worker`` (TF_CONFIG).
        devices: explicit device list for ``mirrored`` (e.g. ``("/cpu:0", "/cpu:1")``).
        precision: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
        jit: compile the train step with XLA.
        early_stopping_patience: epochs without val_loss improvement before stopping;
            0 disables early stopping.
        tensorboard: also write TensorBoard logs under ``out/tensorboard``.
        weights: local weights file for the mobilenetv2 backbone (ImageNet, no top).
        fine_tune_epochs: mobilenetv2 only: epochs of fine-tuning with the backbone unfrozen.
        alpha: mobilenetv2 width multiplier.
        image_size: resize images to this (height, width): the backbone input size for
            mobilenetv2, the load size for ``dir:`` datasets.
        latent_dim: gan only: size of the generator's input noise vector.
        calibration_samples: number of training inputs written to ``calibration.npz``.
        max_samples: use at most this many training samples (quick runs and tests).
        force: replace an existing ``model.keras`` in ``out``.
        peer_timeout: ``multi-worker`` only: seconds a worker waits for its peers to start
            (and the longest silence of a peer during training) before it fails.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
        backend: the Keras 3 backend that trains: ``tensorflow``, ``jax`` or ``torch``
            (default: ``$KERAS_BACKEND``, else ``tensorflow``). A backend other than the one
            of an already imported Keras trains in a child process.
    """

    recipe: str = "mnist-cnn"
    dataset: str = "digits"
    epochs: int = 15
    batch_size: int = 64
    out: str = "runs/train"
    seed: int = 0
    learning_rate: float | None = None
    validation_split: float = 0.1
    test_split: float = 0.2
    augment: bool = False
    strategy: str = Strategy.DEFAULT.value
    devices: tuple[str, ...] | None = None
    precision: str = ComputePrecision.FLOAT32.value
    jit: bool = False
    early_stopping_patience: int = 5
    tensorboard: bool = False
    weights: str | None = None
    fine_tune_epochs: int = 0
    alpha: float = 0.35
    image_size: tuple[int, int] | None = None
    latent_dim: int = 32
    calibration_samples: int = 200
    max_samples: int | None = None
    force: bool = False
    verbose: int = 1
    peer_timeout: float = 120.0
    backend: str = field(default_factory=default_backend)

    def __post_init__(self) -> None:
        lookup(self.backend)
        if self.recipe not in RECIPE_NAMES:
            raise ConfigError(
                f"Unknown recipe {self.recipe!r}. Expected one of: {', '.join(RECIPE_NAMES)}."
            )
        if self.dataset not in DATASET_NAMES and not self.dataset.startswith(DATASET_PREFIXES):
            raise ConfigError(
                f"Unknown dataset {self.dataset!r}. Expected one of: "
                f"{', '.join(DATASET_NAMES)}, npz:PATH or dir:PATH."
            )
        _check_enum("strategy", self.strategy, Strategy)
        _check_enum("precision", self.precision, ComputePrecision)
        for name in ("epochs", "batch_size", "calibration_samples", "latent_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1. Got: {value!r}")
        for name in ("early_stopping_patience", "fine_tune_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0. Got: {value!r}")
        if self.max_samples is not None and self.max_samples < 10:
            raise ConfigError(f"max_samples must be >= 10 when set. Got: {self.max_samples}")
        for name in ("validation_split", "test_split"):
            value = getattr(self, name)
            if not 0.0 < value < 0.9:
                raise ConfigError(f"{name} must be between 0 and 0.9 (exclusive). Got: {value}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0. Got: {self.learning_rate}")
        if not 0.0 < self.alpha <= 1.4:
            raise ConfigError(f"alpha must be in (0, 1.4]. Got: {self.alpha}")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise ConfigError(
                f"image_size must be (height, width), each >= 8. Got: {self.image_size}"
            )
        if self.devices is not None and self.strategy != Strategy.MIRRORED.value:
            raise ConfigError(
                f"devices is only used with strategy 'mirrored'. Got strategy {self.strategy!r}."
            )
        if self.weights is not None and self.recipe != "mobilenetv2":
            raise ConfigError(
                f"weights applies to the mobilenetv2 backbone only. Got recipe {self.recipe!r}."
            )
        if self.fine_tune_epochs and self.recipe != "mobilenetv2":
            raise ConfigError(
                f"fine_tune_epochs applies to the mobilenetv2 recipe only. Got recipe "
                f"{self.recipe!r}."
            )
        if not (
            isinstance(self.peer_timeout, (int, float)) and 1.0 <= self.peer_timeout <= 86400.0
        ):
            raise ConfigError(
                f"peer_timeout must be a number of seconds in 1..86400. Got: {self.peer_timeout!r}"
            )
        if self.strategy == Strategy.MULTI_WORKER.value and self.recipe == "gan":
            raise ConfigError(
                "strategy 'multi-worker' trains the classifier recipes; recipe 'gan' trains on "
                "one worker. Use --strategy default or mirrored for the gan."
            )
        if self.verbose not in (0, 1, 2):
            raise ConfigError(f"verbose must be 0, 1 or 2. Got: {self.verbose!r}")

    @property
    def mixed_precision(self) -> bool:
        """True when layers compute in a 16-bit float type."""
        return self.precision != ComputePrecision.FLOAT32.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = dataclasses.asdict(self)
        for key in ("devices", "image_size"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` wrote (lists back to tuples)."""
        data = dict(data)
        for key in ("devices", "image_size"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with ``changes`` applied (and validated)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"Unknown training setting(s) {unknown}.")
        return dataclasses.replace(self, **changes)


def _check_enum(name: str, value: str, enum: type[Enum]) -> None:
    allowed = [m.value for m in enum]
    if value not in allowed:
        raise ConfigError(f"Unknown {name} {value!r}. Expected one of: {', '.join(allowed)}.")
