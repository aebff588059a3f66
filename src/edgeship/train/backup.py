"""Backups that let an interrupted training run resume where it stopped.

At the end of every epoch each worker writes one *backup set* into its backup folder: the
model's and the optimizer's state (``latest.weights.h5``), the best weights so far (the
run's checkpoint, ``best.weights.h5``), the run's ``history.csv`` so far and ``state.json``
(the epoch count, a fingerprint of the settings that shape training, the state of the
callbacks that remember earlier epochs, and the sha256 of every file of the set).

A set is written into a temporary folder and renamed to ``epoch-NNNNNN`` only when complete,
so a crash leaves either the new set or the previous one, never a mixture; older sets are
removed after the rename. The next run with the same settings and output folder restores the
newest set whose files match their recorded hashes and continues with the next epoch
(``initial_epoch``), with the best weights and the best ``val_loss`` seen before the crash; a
set of other settings, a partial or a tampered set is ignored. A run that ends normally
deletes its backup folder.

In a multi-worker run the chief backs up into ``OUT/backup`` and every worker *reads* from
there, so all restore the same state (on several machines ``OUT`` must be on a file system
they share, as for ``tf.distribute``'s own backups); the other workers write their
backups into their private temporary folders.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeship.fileio import atomic_path, atomic_write_json, make_dirs, read_json, sha256_file
from edgeship.train.config import Strategy, TrainConfig

BACKUP_DIRNAME = "backup"
SCHEMA = "edgeship.train-backup/2"
WEIGHTS = "latest.weights.h5"
BEST = "best.weights.h5"
STATE = "state.json"
HISTORY = "history.csv"
_SET = re.compile(r"epoch-(\d{6,})")
# Settings that do not change what is trained (files, output, timeouts; more epochs extend).
_NEUTRAL = ("out", "force", "verbose", "peer_timeout", "tensorboard", "epochs")
# What the callbacks that compare epochs remember (reset by their on_train_begin).
_TRACKED = {
    "ModelCheckpoint": ("best",),
    "EarlyStopping": ("wait", "best", "best_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
}


@dataclass(frozen=True)
class Restored:
    """What :func:`restore` found.

    Attributes:
        epoch: the epoch to continue from (0: nothing restored, start over).
        callbacks: per callback class name, the attributes to give it back before training.
    """

    epoch: int = 0
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)


def backup_dir(out: str | Path) -> Path:
    """The backup folder of output folder ``out``."""
    return Path(out) / BACKUP_DIRNAME


def set_dir(target: Path, epoch: int) -> Path:
    """The folder of the backup set written at the end of ``epoch`` epochs."""
    return target / f"epoch-{epoch:06d}"


def fingerprint(config: TrainConfig) -> str:
    """sha256 of the settings a backup must match to be restored."""
    settings = {k: v for k, v in config.to_dict().items() if k not in _NEUTRAL}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def find_backup(source: Path, config: TrainConfig) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete backup set in ``source`` that matches ``config``, and its state.

    A set counts when its ``state.json`` reads, names this schema, the fingerprint of
    ``config`` and the epoch of the folder, and every file it lists has the recorded sha256.
    """
    digest = fingerprint(config)
    sets = []
    if source.is_dir():
        for entry in source.iterdir():
            match = _SET.fullmatch(entry.name)
            if match and entry.is_dir():
                sets.append((int(match.group(1)), entry))
    for epoch, folder in sorted(sets, reverse=True):
        state = _verified_state(folder, epoch, digest)
        if state is not None:
            return folder, state
    return None


def restore(
    model: Any,
    source: Path,
    config: TrainConfig,
    history_tmp: Path,
    checkpoint: Path | None = None,
) -> Restored:
    """Load the newest backup set in ``source`` that matches ``config`` into ``model``.

    Also copies the backed-up history into ``history_tmp`` (the run's ``history.csv`` being
    written) and the backed-up best weights onto ``checkpoint``.

    Returns:
        The epoch to continue from (0 when there is nothing to restore) and the state of the
        callbacks at that epoch.
    """
    found = find_backup(source, config)
    if found is None:
        return Restored()
    folder, state = found
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(str(folder / WEIGHTS))
    if (folder / HISTORY).is_file():
        with atomic_path(history_tmp) as tmp:
            shutil.copyfile(folder / HISTORY, tmp)
    if checkpoint is not None and (folder / BEST).is_file():
        with atomic_path(checkpoint) as tmp:
            shutil.copyfile(folder / BEST, tmp)
    callbacks = state.get("callbacks")
    return Restored(int(state["epoch"]), callbacks if isinstance(callbacks, dict) else {})


def write_backup(
    target: Path,
    model: Any,
    epoch: int,
    digest: str,
    files: dict[str, Path],
    callbacks: dict[str, dict[str, Any]],
) -> Path:
    """Write the backup set of ``epoch`` into ``target`` as one unit; remove older sets.

    Args:
        target: the backup folder.
        model: the model whose (and whose optimizer's) weights are saved.
        epoch: epochs done.
        digest: :func:`fingerprint` of the run's settings.
        files: more files of the set, by name in the set (missing sources are left out).
        callbacks: the state of the callbacks, as :func:`callback_state` returns it.

    Returns:
        The set's folder.
    """
    make_dirs(target)
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f".epoch-{epoch:06d}.", suffix=".partial", dir=target))
    final = set_dir(target, epoch)
    try:
        model.save_weights(str(tmp / WEIGHTS))
        for name, source in files.items():
            if source.is_file():
                shutil.copyfile(source, tmp / name)
        hashes = {p.name: _sealed_sha256(p) for p in sorted(tmp.iterdir())}
        state = {
            "schema": SCHEMA,
            "epoch": epoch,
            "fingerprint": digest,
            "files": hashes,
            "callbacks": callbacks,
        }
        atomic_write_json(tmp / STATE, state)
        if final.exists():  # a set of this epoch from before a fallback to an older one
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _sync_dir(target)
    for entry in target.iterdir():  # older sets and partial folders of crashed runs
        if entry != final:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    return final


def callback_state(callbacks: list[Any]) -> dict[str, dict[str, Any]]:
    """What the callbacks that compare epochs remember, by class name."""
    state: dict[str, dict[str, Any]] = {}
    for callback in callbacks:
        attributes = _TRACKED.get(type(callback).__name__, ())
        if attributes:
            state[type(callback).__name__] = {
                a: _plain(getattr(callback, a, None)) for a in attributes
            }
    return state


def set_callback_state(callbacks: list[Any], state: dict[str, dict[str, Any]]) -> None:
    """Give the callbacks back what :func:`callback_state` recorded."""
    for callback in callbacks:
        name = type(callback).__name__
        for attribute in _TRACKED.get(name, ()):
            values = state.get(name)
            if isinstance(values, dict) and attribute in values:
                setattr(callback, attribute, values[attribute])


def make_backup_callback(
    target: Path,
    config: TrainConfig,
    history_tmp: Path,
    checkpoint: Path | None = None,
    tracked: list[Any] | None = None,
    restored: Restored | None = None,
) -> Any:
    """A Keras callback writing a backup set into ``target`` at the end of every epoch.

    Args:
        target: the backup folder.
        config: the run's settings (their fingerprint goes into every set).
        history_tmp: the run's ``history.csv`` being written (by a CSVLogger placed earlier).
        checkpoint: the run's best-weights file (written by a ModelCheckpoint placed earlier).
        tracked: the run's callbacks; those that compare epochs are backed up and restored.
        restored: what :func:`restore` found; given back to ``tracked`` when training begins
            (after their own ``on_train_begin`` reset them: place this callback last).
    """
    import keras

    digest = fingerprint(config)
    files = {HISTORY: history_tmp, **({BEST: checkpoint} if checkpoint is not None else {})}
    others = list(tracked or [])

    class Backup(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            if restored is not None and restored.epoch:
                set_callback_state(others, restored.callbacks)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            write_backup(target, self.model, epoch + 1, digest, files, callback_state(others))

    return Backup()


def callbacks(
    config: TrainConfig,
    out: Path,
    history_tmp: Path,
    checkpoint: Path,
    tracked: list[Any],
    restored: Restored,
) -> list[Any]:
    """The backup callback of a run writing ``out``, to be placed after ``tracked`` (it
    reads their state at the end of each epoch and restores it first)."""
    target = backup_dir(out)
    return [make_backup_callback(target, config, history_tmp, checkpoint, tracked, restored)]


def remove_backup(target: Path) -> None:
    """Delete a finished run's backup folder."""
    shutil.rmtree(target, ignore_errors=True)


def resume(
    config: TrainConfig,
    model: Any,
    strategy: Any,
    shared: Path,
    history_tmp: Path,
    checkpoint: Path,
) -> Restored:
    """Restore the backup of an interrupted run from ``shared`` (the output folder; in a
    multi-worker run the chief's, which every worker reads, and the workers then agree on
    the epoch).

    The run then backs up each epoch with the callback of :func:`callbacks`.
    """
    source = backup_dir(shared)
    with strategy.scope():
        restored = restore(model, source, config, history_tmp, checkpoint)
    if config.strategy == Strategy.MULTI_WORKER.value:
        from edgeship.train.multiworker import agree_on_epoch

        agree_on_epoch(strategy, restored.epoch, str(source))
    return restored


def read_history(path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics of a ``history.csv`` written by Keras's CSVLogger."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [_number(row[k]) for row in rows] for k in keys}


def _verified_state(folder: Path, epoch: int, digest: str) -> dict[str, Any] | None:
    """The set's state when it is complete, of these settings and of this epoch."""
    try:
        state = read_json(folder / STATE)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("schema") != SCHEMA:
        return None
    if state.get("fingerprint") != digest or state.get("epoch") != epoch:
        return None
    files = state.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        return None
    for name, expected in files.items():
        path = folder / str(name)
        try:
            if sha256_file(path) != expected:
                return None
        except OSError:
            return None
    return state


def _sealed_sha256(path: Path) -> str:
    """sha256 of ``path`` after its bytes reached the disk (so a rename never outlives them)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return sha256_file(path)


def _sync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _plain(value: Any) -> Any:
    """A callback attribute as JSON takes it (numpy scalars to Python numbers)."""
    return value.item() if hasattr(value, "item") else value


def _number(text: str) -> float:
    """A CSVLogger cell as a float; its ``NA`` (metric missing that epoch) is NaN."""
    try:
        return float(text)
    except ValueError:
        return math.nan
