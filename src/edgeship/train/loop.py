"""The training loop: data, strategy, precision, callbacks, fit, evaluate, write outputs.

It runs on the Keras backend of ``config.backend`` (imported already); what differs per
backend comes from :mod:`edgeship.train.backends`.

Order of work (every check that can fail runs before the first epoch):

1. refuse to overwrite an existing ``model.keras`` without ``force``;
2. load, validate and split the dataset; check the recipe fits the data;
3. create the strategy, check the global batch fits in memory;
4. build and compile the model under the strategy and the precision policy;
5. fit with EarlyStopping, ModelCheckpoint (best weights), ReduceLROnPlateau, CSVLogger,
   TerminateOnNaN, a backup each epoch (a killed run resumes) and optionally TensorBoard;
   optional fine-tune phase;
6. a mixed-precision model is copied into its float32 twin (what converters can take);
7. evaluate on the test split; write ``model.keras`` (atomically), ``edgeship.json``,
   ``history.csv``, ``calibration.npz``, ``eval.npz``.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import Any

from edgeship.errors import (
    ArtifactExistsError,
    InvalidInputError,
    TrainingError,
    opt_in,
)
from edgeship.fileio import atomic_path, make_dirs
from edgeship.train import backup, cardgen
from edgeship.train.backends import get_backend
from edgeship.train.config import Strategy, TrainConfig
from edgeship.train.datasets import DataSplits, load_dataset
from edgeship.train.distribute import (
    check_batch_memory,
    float32_copy,
    global_batch_size,
    precision_policy,
    worker_config,
)
from edgeship.train.recipes import check, get_recipe
from edgeship.train.records import (
    TrainResult,
    check_tensorboard,
    make_epoch_timer,
    save_result,
    training_record,
)


def prepare_out(config: TrainConfig) -> Path:
    """Create the output directory; refuse to replace a model without ``force``."""
    out = Path(config.out)
    model_path = out / cardgen.MODEL_FILENAME
    if model_path.exists() and not config.force:
        raise ArtifactExistsError(
            f"{model_path} already exists. Expected a new output directory; "
            f"{opt_in('--force', 'force')} to replace it."
        )
    make_dirs(out)
    return out


def make_callbacks(config: TrainConfig, out: Path, history_path: Path, phase: int) -> list[Any]:
    """EarlyStopping, best-weights checkpoint, ReduceLROnPlateau, CSVLogger, TerminateOnNaN,
    optional TensorBoard."""
    import keras

    cbs: list[Any] = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(
            str(checkpoint_path(out)),
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-6),
        keras.callbacks.CSVLogger(str(history_path), append=phase > 0),
    ]
    if config.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience
            )
        )
    if config.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard")))
    return cbs


def checkpoint_path(out: Path) -> Path:
    """Where the best weights of the run are kept."""
    return out / "checkpoints" / "best.weights.h5"


def compile_classifier(model: Any, learning_rate: float, jit: bool) -> None:
    """Adam + sparse categorical cross-entropy + accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=bool(jit),
    )


def fit(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    epochs: int,
    callbacks: list[Any],
    verbose: int,
    initial_epoch: int = 0,
    backend: str = "tensorflow",
) -> dict[str, list[float]]:
    """``model.fit`` with out-of-memory (as ``backend`` reports it) and NaN turned into
    :class:`TrainingError`."""
    try:
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the datasets shuffle themselves
            initial_epoch=initial_epoch,
        )
    except Exception as exc:
        if not get_backend(backend).is_out_of_memory(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrainingError(
            f"Out of memory during training on {backend} ({first}). "
            "Use a smaller --batch-size or a smaller model."
        ) from exc
    values = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    losses = values.get("loss", [])
    if initial_epoch >= epochs:  # resumed after the last epoch: nothing left to run
        return values
    if not losses or not all(math.isfinite(v) for v in losses):
        raise TrainingError(
            f"Training loss is not finite (got {losses[-3:]}). Lower --learning-rate, "
            "check the data for extreme values, or train in float32."
        )
    return values


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.recipe`` on ``config.dataset`` and write the run's files.

    Returns:
        A :class:`TrainResult` with the model path, the card and the test accuracy.
    """
    start = time.perf_counter()
    shared = Path(config.out)
    config = worker_config(config)  # checks TF_CONFIG of a multi-worker run first
    with get_backend(config.backend).session():
        if Path(config.out) == shared:
            return _train(config, shared, start)
        try:  # a worker that is not the chief: its files go to a private folder, then away
            result = _train(config, shared, start)
        finally:
            shutil.rmtree(config.out, ignore_errors=True)
    return dataclasses.replace(
        result, out=shared, model_path=shared / cardgen.MODEL_FILENAME, chief=False
    )


def _train(config: TrainConfig, shared: Path, start: float) -> TrainResult:
    out = prepare_out(config)
    data = load_dataset(config)
    if config.recipe == "gan":
        from edgeship.train.gan_train import train_gan

        return train_gan(config, data, out, start)
    check_tensorboard(config)
    recipe = get_recipe(config.recipe)
    check(config.recipe, data.kind, data.input_shape)
    if config.augment and data.kind != "image":
        raise InvalidInputError(
            f"--augment applies to images; dataset {data.name} holds {data.kind} data."
        )
    import keras

    backend = get_backend(config.backend)
    keras.utils.set_random_seed(config.seed)
    strategy = backend.make_strategy(config)
    batch = global_batch_size(config, strategy)
    check_batch_memory(data.input_shape, batch)
    train_ds, val_ds, test_ds = _datasets(data, config, batch)
    learning_rate = config.learning_rate or recipe.DEFAULT_LEARNING_RATE
    jit = backend.jit_compile(config.jit)
    with precision_policy(config.precision), strategy.scope():
        model = recipe.build(data.input_shape, data.num_classes, config)
        compile_classifier(model, learning_rate, jit)
    if config.strategy == Strategy.MULTI_WORKER.value:
        from edgeship.train.multiworker import adapt_model

        adapt_model(model, strategy, (data.x_train[:2], data.y_train[:2]))

    timer = make_epoch_timer()
    ckpt = checkpoint_path(out)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.unlink(missing_ok=True)  # never a previous run's best weights, unless resumed below
    with atomic_path(out / cardgen.HISTORY_FILENAME) as history_tmp:
        restored = backup.resume(config, model, strategy, shared, history_tmp, ckpt)
        initial_epoch = restored.epoch
        callbacks = [timer, *make_callbacks(config, out, history_tmp, phase=int(initial_epoch > 0))]
        callbacks += backup.callbacks(config, out, history_tmp, ckpt, callbacks, restored)
        history = fit(
            model,
            train_ds,
            val_ds,
            config.epochs,
            callbacks,
            config.verbose,
            initial_epoch,
            config.backend,
        )
        if initial_epoch:
            history = backup.read_history(history_tmp)
        if ckpt.is_file():
            model.load_weights(str(ckpt))
        if config.fine_tune_epochs and hasattr(recipe, "unfreeze"):
            with strategy.scope():
                recipe.unfreeze(model)
                compile_classifier(model, learning_rate / 10, jit)
            ckpt.unlink(missing_ok=True)
            callbacks = [timer, *make_callbacks(config, out, history_tmp, phase=1)]
            tuned = fit(
                model,
                train_ds,
                val_ds,
                config.fine_tune_epochs,
                callbacks,
                config.verbose,
                backend=config.backend,
            )
            if ckpt.is_file():
                model.load_weights(str(ckpt))
            history = {k: history.get(k, []) + tuned.get(k, []) for k in tuned}

    if config.mixed_precision:  # export (and evaluate) the float32 twin
        model = float32_copy(
            model, lambda: recipe.build(data.input_shape, data.num_classes, config)
        )
        compile_classifier(model, learning_rate, jit=backend.jit_compile(False))
    test_loss, test_accuracy = (float(v) for v in model.evaluate(test_ds, verbose=0)[:2])
    seconds = time.perf_counter() - start
    metrics = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "best_val_loss": min(history.get("val_loss", [math.nan])),
        "best_val_accuracy": max(history.get("val_accuracy", [math.nan])),
    }
    training = training_record(
        config,
        timer,
        strategy,
        batch,
        learning_rate,
        seconds,
        fine_tune_epochs=config.fine_tune_epochs,
        augment=config.augment,
        weights=config.weights,
        resumed_from_epoch=initial_epoch,
        **backend.describe(),
        jit_compiled=bool(jit),
    )
    result = finish(model, data, config, out, metrics, training, history, start)
    backup.remove_backup(backup.backup_dir(out))
    return result


def finish(
    model: Any,
    data: DataSplits,
    config: TrainConfig,
    out: Path,
    metrics: dict[str, Any],
    training: dict[str, Any],
    history: dict[str, list[float]],
    start: float,
) -> TrainResult:
    """Write samples, the card and (last) the model; return the result."""
    cardgen.write_samples(out, data, config.calibration_samples, config.seed)
    card = cardgen.classifier_card(
        model, data, name=f"{config.recipe}-{_slug(data.name)}", metrics=metrics, training=training
    )
    return save_result(model, card, out, metrics.get("test_accuracy"), start, history)


def _datasets(data: DataSplits, config: TrainConfig, batch: int) -> tuple[Any, Any, Any]:
    augment = None
    if config.augment:
        from edgeship.train.augment import build_augmentation

        augment = build_augmentation(data.input_shape, flip=data.flip_ok, seed=config.seed)
    make = get_backend(config.backend).make_dataset
    train_ds = make(
        data.x_train, data.y_train, batch, training=True, seed=config.seed, augment=augment
    )
    val_ds = make(data.x_val, data.y_val, batch, training=False)
    test_ds = make(data.x_test, data.y_test, batch, training=False)
    return train_ds, val_ds, test_ds


def _slug(name: str) -> str:
    """``npz:/a/b/data.npz`` -> ``data``; ``digits`` -> ``digits``."""
    if ":" in name:
        name = Path(name.split(":", 1)[1]).stem or "data"
    return name
