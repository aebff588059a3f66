"""Training of the ``gan`` recipe: the generator is the deployable model with its own card.

The card of a generator has ``task: "generation"``, input ``latent`` (standard-normal noise),
output ``image`` in ``[0, 1]``; ``dataset.raw_scale`` says how model-space pixels map back to
the dataset's raw values (divide by it). ``calibration.npz`` and ``eval.npz`` hold latent
vectors (no labels).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.errors import TrainingError
from edgeship.fileio import atomic_path
from edgeship.samples import save_samples
from edgeship.train import cardgen
from edgeship.train.backends import get_backend
from edgeship.train.config import ComputePrecision, TrainConfig
from edgeship.train.datasets import DataSplits
from edgeship.train.distribute import (
    check_batch_memory,
    float32_copy,
    global_batch_size,
    precision_policy,
)
from edgeship.train.recipes import check, get_recipe
from edgeship.train.records import (
    TrainResult,
    check_tensorboard,
    make_epoch_timer,
    save_result,
    training_record,
)


def _optimizer(learning_rate: float, precision: str) -> Any:
    import keras

    opt = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    if precision == ComputePrecision.MIXED_FLOAT16.value:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def train_gan(config: TrainConfig, data: DataSplits, out: Path, start: float) -> TrainResult:
    """Train a DCGAN on the images of ``data`` and write the generator and its card."""
    import keras

    check_tensorboard(config)
    check("gan", data.kind, data.input_shape)
    recipe = get_recipe("gan")
    backend = get_backend(config.backend)
    keras.utils.set_random_seed(config.seed)
    strategy = backend.make_strategy(config)
    batch = global_batch_size(config, strategy)
    check_batch_memory(data.input_shape, batch)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    train_ds = backend.make_dataset(x, y, batch, training=True, seed=config.seed)
    learning_rate = config.learning_rate or recipe.DEFAULT_LEARNING_RATE
    with precision_policy(config.precision), strategy.scope():
        gan = recipe.build(data.input_shape, data.num_classes, config)
        gan.compile(
            _optimizer(learning_rate, config.precision),
            _optimizer(learning_rate, config.precision),
            jit_compile=backend.jit_compile(config.jit),
        )
    timer = make_epoch_timer()
    with atomic_path(out / cardgen.HISTORY_FILENAME) as history_tmp:
        callbacks = [
            timer,
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.CSVLogger(str(history_tmp)),
        ]
        if config.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard")))
        fitted = gan.fit(
            train_ds,
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=False,
        )
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    last = {k: vs[-1] for k, vs in history.items() if vs}
    if not last or not all(math.isfinite(v) for v in last.values()):
        raise TrainingError(
            f"GAN losses are not finite (got {last}). Lower --learning-rate or train in float32."
        )

    generator = gan.generator
    if config.mixed_precision:  # export the float32 twin
        generator = float32_copy(
            generator, lambda: recipe.build_generator(gan.latent_dim, data.input_shape)
        )
    rng = np.random.default_rng(config.seed)
    calib = rng.standard_normal((config.calibration_samples, gan.latent_dim)).astype(np.float32)
    evals = rng.standard_normal((len(data.x_test), gan.latent_dim)).astype(np.float32)
    sigmoid = keras.activations.sigmoid
    real_score = float(np.mean(sigmoid(gan.discriminator.predict(data.x_test, verbose=0))))
    fakes = generator.predict(evals, verbose=0)
    fake_score = float(np.mean(sigmoid(gan.discriminator.predict(fakes, verbose=0))))
    metrics = {
        "d_loss": last.get("d_loss"),
        "g_loss": last.get("g_loss"),
        "discriminator_real_score": real_score,
        "discriminator_fake_score": fake_score,
        "generated_pixel_mean": float(fakes.mean()),
        "real_pixel_mean": float(data.x_test.mean()),
    }
    seconds = time.perf_counter() - start
    training = training_record(
        config,
        timer,
        strategy,
        batch,
        learning_rate,
        seconds,
        latent_dim=gan.latent_dim,
        **backend.describe(),
        jit_compiled=bool(backend.jit_compile(config.jit)),
    )
    save_samples(out / cardgen.CALIBRATION_FILENAME, calib)
    save_samples(out / cardgen.EVAL_FILENAME, evals)
    card = cardgen.build_card(
        generator,
        name=f"gan-generator-{data.name.split(':')[0]}",
        task="generation",
        labels=None,
        preprocessing={"scale": 1.0, "offset": 0.0, "layout": "NC"},
        dataset={
            "name": data.name,
            "kind": "latent",
            "latent_distribution": "standard_normal",
            "image_shape": list(data.input_shape),
            "raw_scale": data.scale,
            "splits": {"train": len(x)},
        },
        metrics=metrics,
        training=training,
    )
    return save_result(generator, card, out, None, start, history)
