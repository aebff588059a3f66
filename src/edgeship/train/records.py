"""What a training run hands on: its result and the card's ``training`` record.

Shared by the classifier loop (:mod:`edgeship.train.loop`) and the GAN loop
(:mod:`edgeship.train.gan_train`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeship._lazy import is_available
from edgeship.card import ModelCard
from edgeship.errors import MissingDependencyError
from edgeship.train import cardgen
from edgeship.train.config import TrainConfig


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        out: output directory.
        model_path: path of ``model.keras``.
        card: the model card written to ``edgeship.json``.
        test_accuracy: accuracy on the test split (0..1), None for generative recipes.
        seconds: wall time of the whole run.
        history: per-epoch metrics (``loss``, ``val_loss``, ...).
        chief: False on the workers of a multi-worker run that do not write ``out`` (their
            files went to a temporary folder, now removed).
    """

    out: Path
    model_path: Path
    card: ModelCard
    test_accuracy: float | None
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    chief: bool = True


def make_epoch_timer() -> Any:
    """A Keras callback recording the wall time of each epoch in ``.times``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []
            self.cpu_times: list[float] = []
            self._start = (0.0, 0.0)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.times.append(time.perf_counter() - self._start[0])
            self.cpu_times.append(time.process_time() - self._start[1])

    return EpochTimer()


def epoch_stats(timer: Any) -> dict[str, float | None]:
    """First-epoch wall time (includes tracing) and mean wall and process-CPU time of the
    later epochs (the first one when there is only one)."""
    if not timer.times:
        return {"first_epoch_seconds": None, "seconds_per_epoch": None}
    later, cpu = timer.times[1:] or timer.times, timer.cpu_times[1:] or timer.cpu_times
    return {
        "first_epoch_seconds": timer.times[0],
        "seconds_per_epoch": sum(later) / len(later),
        "cpu_seconds_per_epoch": sum(cpu) / len(cpu),
    }


def training_record(
    config: TrainConfig,
    timer: Any,
    strategy: Any,
    global_batch: int,
    learning_rate: float,
    seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """The card's ``training`` section: settings, replicas, timings, plus recipe extras."""
    return {
        "recipe": config.recipe,
        "epochs": config.epochs,
        "epochs_run": len(timer.times),
        "batch_size": config.batch_size,
        "global_batch_size": global_batch,
        "strategy": config.strategy,
        "replicas": int(strategy.num_replicas_in_sync),
        "precision": config.precision,
        "saved_precision": "float32",
        "jit": config.jit,
        "learning_rate": learning_rate,
        "seed": config.seed,
        **extra,
        "seconds": seconds,
        **epoch_stats(timer),
    }


def check_tensorboard(config: TrainConfig) -> None:
    """``--tensorboard`` needs the ``tensorboard`` package (tensorflow-cpu may lack it)."""
    if config.tensorboard and not is_available("tensorboard"):
        raise MissingDependencyError(
            "--tensorboard needs the 'tensorboard' package, which is not installed. "
            "Install it with: pip install tensorboard (or train without --tensorboard)."
        )


def save_result(
    model: Any,
    card: ModelCard,
    out: Path,
    test_accuracy: float | None,
    start: float,
    history: dict[str, list[float]],
) -> TrainResult:
    """Save the card, then (last, so a model file means a finished run) the model; return
    the run's result (``start``: its ``time.perf_counter()`` at the beginning)."""
    card.save(out)
    model_path = cardgen.save_model_atomic(model, out / cardgen.MODEL_FILENAME)
    return TrainResult(
        out=out,
        model_path=model_path,
        card=card,
        test_accuracy=test_accuracy,
        seconds=time.perf_counter() - start,
        history=history,
    )
