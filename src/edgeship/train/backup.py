"""Backups that let an interrupted training run resume where it stopped.

At the end of every epoch each worker writes the model's and the optimizer's state
(``latest.weights.h5``), the epoch count and the run's ``history.csv`` so far into its
backup folder, atomically, with a fingerprint of the settings that shape training. The
next run with the same settings and output folder restores that state and continues with
the next epoch (``initial_epoch``); a backup of other settings is ignored. A run that ends
normally deletes its backup.

In a multi-worker run the chief backs up into ``OUT/backup`` and every worker *reads* from
there, so all restore the same state (on several machines ``OUT`` must be on a file system
they share, as for ``tf.distribute``'s own backups); the other workers write their
backups into their private temporary folders.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

from edgeship.fileio import atomic_path, atomic_write_json, read_json
from edgeship.train.config import Strategy, TrainConfig

BACKUP_DIRNAME = "backup"
WEIGHTS = "latest.weights.h5"
STATE = "state.json"
HISTORY = "history.csv"
# Settings that do not change what is trained (files, output, timeouts; more epochs extend).
_NEUTRAL = ("out", "force", "verbose", "peer_timeout", "tensorboard", "epochs")


def backup_dir(out: str | Path) -> Path:
    """The backup folder of output folder ``out``."""
    return Path(out) / BACKUP_DIRNAME


def fingerprint(config: TrainConfig) -> str:
    """sha256 of the settings a backup must match to be restored."""
    settings = {k: v for k, v in config.to_dict().items() if k not in _NEUTRAL}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def restore(model: Any, source: Path, config: TrainConfig, history_tmp: Path) -> int:
    """Load the backup in ``source`` into ``model`` when it matches ``config``.

    Also copies the backed-up history into ``history_tmp`` (the run's ``history.csv`` being
    written). Returns the epoch to continue from (0 when there is nothing to restore).
    """
    state_file, weights = source / STATE, source / WEIGHTS
    if not (state_file.is_file() and weights.is_file()):
        return 0
    try:
        state = read_json(state_file)
    except (OSError, ValueError):
        return 0
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint(config):
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(str(weights))
    if (source / HISTORY).is_file():
        shutil.copyfile(source / HISTORY, history_tmp)
    return int(state.get("epoch", 0))


def make_backup_callback(target: Path, config: TrainConfig, history_tmp: Path) -> Any:
    """A Keras callback writing the backup into ``target`` at the end of every epoch."""
    import keras

    digest = fingerprint(config)

    class Backup(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            target.mkdir(parents=True, exist_ok=True)
            with atomic_path(target / WEIGHTS) as tmp:
                self.model.save_weights(str(tmp.with_suffix(".weights.h5")))
                tmp.with_suffix(".weights.h5").replace(tmp)
            if history_tmp.is_file():
                with atomic_path(target / HISTORY) as tmp:
                    shutil.copyfile(history_tmp, tmp)
            atomic_write_json(target / STATE, {"epoch": epoch + 1, "fingerprint": digest})

    return Backup()


def remove_backup(target: Path) -> None:
    """Delete a finished run's backup folder."""
    shutil.rmtree(target, ignore_errors=True)


def resume(
    config: TrainConfig, model: Any, strategy: Any, shared: Path, out: Path, history_tmp: Path
) -> tuple[int, list[Any]]:
    """Multi-worker runs: restore the chief's backup of an interrupted run (every worker
    reads it from ``shared``, the chief's output folder) and back up each epoch into ``out``.

    Returns:
        The epoch to start from and the callbacks to add (none for other strategies).
    """
    if config.strategy != Strategy.MULTI_WORKER.value:
        return 0, []
    from edgeship.train.multiworker import agree_on_epoch

    source = backup_dir(shared)
    with strategy.scope():
        epoch = restore(model, source, config, history_tmp)
    agree_on_epoch(strategy, epoch, str(source))
    return epoch, [make_backup_callback(backup_dir(out), config, history_tmp)]


def read_history(path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics of a ``history.csv`` written by Keras's CSVLogger."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [_number(row[k]) for row in rows] for k in keys}


def _number(text: str) -> float:
    """A CSVLogger cell as a float; its ``NA`` (metric missing that epoch) is NaN."""
    try:
        return float(text)
    except ValueError:
        return math.nan
