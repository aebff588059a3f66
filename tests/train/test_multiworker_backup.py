"""Epoch backups of multi-worker runs: written atomically, restored only for the same run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def digits_slice():
    from edgeship.train import TrainConfig
    from edgeship.train.datasets import load_dataset

    data = load_dataset(TrainConfig(max_samples=120))
    return data.x_train[:64], data.y_train[:64]


def _model(config):
    from edgeship.train.loop import compile_classifier
    from edgeship.train.recipes import get_recipe

    model = get_recipe("lenet5").build((8, 8, 1), 10, config)
    compile_classifier(model, 0.003, jit=False)
    return model


def test_backup_restores_weights_optimizer_epoch_and_history(tmp_path: Path, digits_slice) -> None:
    import keras

    from edgeship.train import TrainConfig, backup

    x, y = digits_slice
    config = TrainConfig(recipe="lenet5", strategy="multi-worker", epochs=2, out=str(tmp_path))
    history = tmp_path / "history.csv"
    target = backup.backup_dir(tmp_path)
    trained = _model(config)
    callbacks = [
        keras.callbacks.CSVLogger(str(history)),
        backup.make_backup_callback(target, config, history),
    ]
    trained.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks)
    assert sorted(p.name for p in target.iterdir()) == [
        "history.csv",
        "latest.weights.h5",
        "state.json",
    ]

    fresh, resumed_history = _model(config), tmp_path / "resumed.csv"
    # More epochs extend the same run: still restored.
    epoch = backup.restore(fresh, target, config.replace(epochs=5), resumed_history)
    assert epoch == 2
    for a, b in zip(trained.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations.numpy()) == int(trained.optimizer.iterations.numpy()) == 8
    assert backup.read_history(resumed_history)["loss"] == backup.read_history(history)["loss"]
    assert len(backup.read_history(resumed_history)["loss"]) == 2

    backup.remove_backup(target)
    assert not target.exists()


def test_a_backup_of_other_settings_or_a_broken_one_is_ignored(
    tmp_path: Path, digits_slice
) -> None:
    from edgeship.train import TrainConfig, backup

    x, y = digits_slice
    config = TrainConfig(recipe="lenet5", strategy="multi-worker", out=str(tmp_path))
    target = backup.backup_dir(tmp_path)
    model = _model(config)
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=32,
        verbose=0,
        callbacks=[backup.make_backup_callback(target, config, tmp_path / "h.csv")],
    )
    before = [w.copy() for w in _model(config).get_weights()]

    other = _model(config)
    other.set_weights(before)
    assert backup.restore(other, target, config.replace(seed=1), tmp_path / "x.csv") == 0
    assert backup.restore(other, target, config.replace(batch_size=8), tmp_path / "x.csv") == 0
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # untouched
    (target / "state.json").write_text("{broken")
    assert backup.restore(other, target, config, tmp_path / "x.csv") == 0
    assert backup.restore(other, tmp_path / "nowhere", config, tmp_path / "x.csv") == 0
