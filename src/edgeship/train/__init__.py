"""Training: classic Keras recipes on built-in or user datasets, writing a model and its card.

Example:
    >>> from edgeship.train import TrainConfig, train
    >>> result = train(TrainConfig(recipe="mnist-cnn", dataset="digits", out="runs/m"))
    >>> result.test_accuracy  # doctest: +SKIP
    0.98

Importing this package does not import TensorFlow; :func:`train` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeship.train.config import (
    DATASET_NAMES,
    RECIPE_NAMES,
    ComputePrecision,
    Precision,
    Strategy,
    TrainConfig,
)

if TYPE_CHECKING:
    from edgeship.train.records import TrainResult

__all__ = [
    "DATASET_NAMES",
    "RECIPE_NAMES",
    "ComputePrecision",
    "Precision",
    "Strategy",
    "TrainConfig",
    "TrainResult",
    "train",
]


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.recipe`` on ``config.dataset`` and write ``config.out``.

    Writes ``model.keras`` (atomically), ``edgeship.json`` (the model card, with
    ``metrics.test_accuracy``), ``history.csv``, ``calibration.npz`` and ``eval.npz``.

    Args:
        config: the run's settings.

    Returns:
        A :class:`~edgeship.train.records.TrainResult` (``model_path``, ``card``,
        ``test_accuracy``, ``seconds``, ``history``).

    Raises:
        ConfigError, DatasetError, InvalidInputError: bad settings or data, before training.
        ArtifactExistsError: ``out`` already holds a model and ``force`` is False.
        TrainingError: training failed (out of memory, non-finite loss).
    """
    from edgeship.train.loop import train as _train

    return _train(config)


def __getattr__(name: str) -> object:
    if name == "TrainResult":
        from edgeship.train.records import TrainResult

        return TrainResult
    raise AttributeError(f"module 'edgeship.train' has no attribute {name!r}")
