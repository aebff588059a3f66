"""Training: classic Keras recipes on built-in or user datasets, writing a model and its card.

Example:
    >>> from edgeship.train import TrainConfig, train
    >>> result = train(TrainConfig(recipe="mnist-cnn", dataset="digits", out="runs/m"))
    >>> result.test_accuracy  # doctest: +SKIP
    0.98

Importing this package does not import TensorFlow or Keras; :func:`train` imports Keras on
``config.backend`` (TensorFlow only for ``--backend tensorflow``).
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
        MissingDependencyError: ``config.backend``'s package is not installed.
        TrainingError: training failed (out of memory, non-finite loss).
    """
    import os

    from edgeship.train import backends
    from edgeship.train.child import keras_backend_in_use, run_in_child

    backends.check(config)  # refusals of the backend, before anything is loaded
    in_use = keras_backend_in_use()
    if in_use is not None and in_use != config.backend:
        return run_in_child(config)
    os.environ["KERAS_BACKEND"] = config.backend  # read when Keras is imported
    from edgeship.train.loop import train as _train

    return _train(config)


def __getattr__(name: str) -> object:
    if name == "TrainResult":
        from edgeship.train.records import TrainResult

        return TrainResult
    raise AttributeError(f"module 'edgeship.train' has no attribute {name!r}")
