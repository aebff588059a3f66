"""Epoch backups of multi-worker runs: written as one unit, restored only for the same run,
with the best weights and the callbacks' memory of the epochs before the crash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import CARD_FILENAME
from edgeship.netutil import free_ports


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


def _same_weights(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_backup_restores_weights_optimizer_epoch_history_and_best(
    tmp_path: Path, digits_slice
) -> None:
    import keras

    from edgeship.train import TrainConfig, backup

    x, y = digits_slice
    config = TrainConfig(recipe="lenet5", strategy="multi-worker", epochs=2, out=str(tmp_path))
    history, best = tmp_path / "history.csv", tmp_path / "ckpt" / "best.weights.h5"
    target = backup.backup_dir(tmp_path)
    trained = _model(config)
    tracked = [
        keras.callbacks.CSVLogger(str(history)),
        keras.callbacks.ModelCheckpoint(str(best), save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(patience=5),
    ]
    callbacks = [*tracked, backup.make_backup_callback(target, config, history, best, tracked)]
    trained.fit(
        x, y, validation_split=0.25, epochs=2, batch_size=16, verbose=0, callbacks=callbacks
    )
    assert [p.name for p in target.iterdir()] == ["epoch-000002"]  # the older set is gone
    assert sorted(p.name for p in backup.set_dir(target, 2).iterdir()) == [
        "best.weights.h5",
        "history.csv",
        "latest.weights.h5",
        "state.json",
    ]

    fresh, resumed_history = _model(config), tmp_path / "resumed.csv"
    restored_best = tmp_path / "restored" / "best.weights.h5"
    # More epochs extend the same run: still restored.
    restored = backup.restore(
        fresh, target, config.replace(epochs=5), resumed_history, restored_best
    )
    assert restored.epoch == 2
    _same_weights(trained.get_weights(), fresh.get_weights())
    assert int(fresh.optimizer.iterations.numpy()) == int(trained.optimizer.iterations.numpy()) == 6
    assert backup.read_history(resumed_history)["loss"] == backup.read_history(history)["loss"]
    assert len(backup.read_history(resumed_history)["loss"]) == 2
    assert restored_best.read_bytes() == best.read_bytes()
    assert restored.callbacks["ModelCheckpoint"]["best"] == pytest.approx(tracked[1].best)
    assert restored.callbacks["EarlyStopping"] == {
        "wait": tracked[2].wait,
        "best": pytest.approx(tracked[2].best),
        "best_epoch": tracked[2].best_epoch,
    }

    # The callbacks of the resumed run get that state back after their own reset.
    again = [
        keras.callbacks.ModelCheckpoint(str(restored_best), save_best_only=True),
        keras.callbacks.EarlyStopping(patience=5),
    ]
    hook = backup.make_backup_callback(target, config, resumed_history, None, again, restored)
    for callback in [*again, hook]:
        callback.on_train_begin()
    assert again[0].best == pytest.approx(tracked[1].best)
    assert again[1].best == pytest.approx(tracked[2].best)
    assert again[1].best_epoch == tracked[2].best_epoch

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
    for changed in (config.replace(seed=1), config.replace(batch_size=8)):
        assert backup.restore(other, target, changed, tmp_path / "x.csv").epoch == 0
    _same_weights(before, other.get_weights())  # untouched
    (backup.set_dir(target, 1) / "state.json").write_text("{broken")
    assert backup.restore(other, target, config, tmp_path / "x.csv").epoch == 0
    assert backup.restore(other, tmp_path / "nowhere", config, tmp_path / "x.csv").epoch == 0


def test_a_crash_while_backing_up_leaves_the_previous_set_and_leftovers_are_ignored(
    tmp_path: Path, digits_slice, monkeypatch
) -> None:
    import keras

    from edgeship.train import TrainConfig, backup

    x, y = digits_slice
    config = TrainConfig(recipe="lenet5", strategy="multi-worker", out=str(tmp_path))
    history, target = tmp_path / "history.csv", backup.backup_dir(tmp_path)
    model = _model(config)

    def run(epochs: int, start: int) -> None:
        logger = keras.callbacks.CSVLogger(str(history), append=start > 0)
        hook = backup.make_backup_callback(target, config, history)
        model.fit(x, y, epochs=epochs, initial_epoch=start, batch_size=32, verbose=0,
                  callbacks=[logger, hook])  # fmt: skip

    run(1, 0)
    first = [w.copy() for w in model.get_weights()]
    kept = shutil.copytree(backup.set_dir(target, 1), tmp_path / "kept")

    # The crash: the process dies as the set of epoch 2 is about to appear.
    real_replace = os.replace

    def dies_at_the_set(src, dst):
        if Path(dst).name.startswith("epoch-"):
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies_at_the_set)
    with pytest.raises(KeyboardInterrupt):
        run(2, 1)
    monkeypatch.undo()
    assert [p.name for p in target.iterdir()] == ["epoch-000001"]  # no partial set left
    fresh = _model(config)
    assert backup.restore(fresh, target, config, tmp_path / "r.csv").epoch == 1
    _same_weights(first, fresh.get_weights())

    # Epoch 2 is backed up; now leave what a crash of the old file-by-file writes or a killed
    # writer could: a set whose weights are not the ones its state recorded, a set in a folder
    # of another epoch, a partial folder, and the complete set of epoch 1.
    run(2, 1)
    assert [p.name for p in target.iterdir()] == ["epoch-000002"]
    second = backup.set_dir(target, 2)
    shutil.copytree(second, backup.set_dir(target, 3))  # its state says epoch 2
    shutil.copytree(second, target / ".epoch-000004.x1.partial")
    shutil.copyfile(kept / "latest.weights.h5", second / "latest.weights.h5")
    shutil.copytree(kept, backup.set_dir(target, 1))
    fresh = _model(config)
    assert backup.restore(fresh, target, config, tmp_path / "r2.csv").epoch == 1
    _same_weights(first, fresh.get_weights())
    assert len(backup.read_history(tmp_path / "r2.csv")["loss"]) == 1

    # The next set removes every other folder.
    backup.write_backup(target, fresh, 2, backup.fingerprint(config), {}, {})
    assert [p.name for p in target.iterdir()] == ["epoch-000002"]


def test_a_resumed_run_keeps_the_best_weights_and_early_stopping_state_of_before(
    tmp_path: Path,
) -> None:
    """A backup whose best val_loss beats every later epoch: the saved model is that best,
    and early stopping counts the epochs without improvement since before the crash."""
    import keras

    from edgeship.train import TrainConfig, backup
    from edgeship.train.datasets import load_dataset
    from edgeship.train.loop import checkpoint_path, make_callbacks

    out = tmp_path / "out"
    config = TrainConfig(
        recipe="lenet5", strategy="multi-worker", epochs=6, batch_size=16, max_samples=300,
        early_stopping_patience=1, calibration_samples=20, verbose=0, out=str(out),
    )  # fmt: skip
    data = load_dataset(config)
    model = _model(config)
    history, best = out / "history.csv", checkpoint_path(out)
    best.parent.mkdir(parents=True)
    tracked = make_callbacks(config, out, history, phase=0)
    hook = backup.make_backup_callback(backup.backup_dir(out), config, history, best, tracked)
    model.fit(
        data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=3,
        batch_size=32, verbose=0, callbacks=[*tracked, hook],
    )  # fmt: skip
    found = backup.find_backup(backup.backup_dir(out), config)
    assert found is not None
    done, state = found[1]["epoch"], found[1]
    best_loss = state["callbacks"]["ModelCheckpoint"]["best"]
    # What a model that sees no input can score at best: the entropy of the val labels.
    shares = np.bincount(data.y_val, minlength=10) / len(data.y_val)
    blind = float(-np.sum(shares[shares > 0] * np.log(shares[shares > 0])))
    assert best_loss < blind - 0.3
    good = _model(config)
    good.optimizer.build(good.trainable_variables)
    good.load_weights(str(best))
    # The weights to continue from see no input: a zero first layer stays zero (relu'(0) = 0
    # and fresh Adam moments), so no later epoch can come near the backed-up best.
    model = _model(config)
    model.optimizer.build(model.trainable_variables)
    layer = model.get_layer("c1")
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    files = {"history.csv": history, "best.weights.h5": best}
    backup.write_backup(
        backup.backup_dir(out), model, done, backup.fingerprint(config), files, state["callbacks"]
    )
    shutil.rmtree(best.parent)  # the restored best can only come from the backup
    history.unlink()

    code = (
        "import json, sys\n"
        "from edgeship.train import TrainConfig, train\n"
        "train(TrainConfig(**json.loads(sys.argv[1])))\n"
    )
    [port] = free_ports(1)  # a one-worker cluster: multi-worker needs its TF_CONFIG
    cluster = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(cluster)}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(config.to_dict())],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / CARD_FILENAME).read_text())
    assert card["training"]["resumed_from_epoch"] == done
    assert card["training"]["epochs_run"] == 1  # patience 1, already used up before the crash
    assert card["metrics"]["best_val_loss"] == pytest.approx(best_loss, rel=1e-5)
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(done + 1))
    saved = keras.saving.load_model(out / "model.keras", compile=False)
    _same_weights(good.get_weights(), saved.get_weights())
    assert not backup.backup_dir(out).exists()
