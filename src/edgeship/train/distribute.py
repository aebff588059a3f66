"""Distribution strategy and precision policy for a training run.

* ``default``: the default strategy (one device: the first GPU if any, else the CPU).
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over all local GPUs (or the devices
  given in ``TrainConfig.devices``); the global batch is ``batch_size * replicas``.
* ``multi-worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` configured from the
  ``TF_CONFIG`` environment variable (create it at program start, before other TF work);
  only the chief writes to the output folder (see :mod:`edgeship.train.multiworker`).

Mixed precision sets the Keras global dtype policy for the duration of model building and
restores the previous policy afterwards; recipes keep their output layer in float32.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from edgeship.errors import ConfigError, TrainingError
from edgeship.train.cluster import EXAMPLE, read_cluster
from edgeship.train.config import Strategy, TrainConfig


def make_strategy(config: TrainConfig) -> Any:
    """Create the ``tf.distribute`` strategy named by ``config.strategy``."""
    import tensorflow as tf

    if config.strategy == Strategy.DEFAULT.value:
        return tf.distribute.get_strategy()
    if config.strategy == Strategy.MIRRORED.value:
        devices = list(config.devices) if config.devices else None
        if devices:
            known = {_short(d.name) for d in tf.config.list_logical_devices()}
            missing = [d for d in devices if _short(d) not in known]
            if missing:
                raise ConfigError(
                    f"Mirrored devices {missing} do not exist. Expected some of: {sorted(known)}."
                )
        try:
            return tf.distribute.MirroredStrategy(devices=devices)
        except (ValueError, RuntimeError) as exc:
            raise TrainingError(f"Cannot create MirroredStrategy: {exc}") from exc
    from edgeship.train.multiworker import make_multi_worker_strategy

    return make_multi_worker_strategy(config)


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` names this process a worker of a cluster that is not its
    chief (``chief`` 0, else ``worker`` 0).

    Raises:
        ConfigError: ``TF_CONFIG`` is malformed.
    """
    cluster = read_cluster()
    return cluster is None or cluster.is_chief


def worker_config(config: TrainConfig) -> TrainConfig:
    """Multi-worker runs: only the chief writes to ``config.out``; every other worker
    writes its (identical) files to a private temporary folder (removed by ``train``).

    Raises:
        ConfigError: ``TF_CONFIG`` is unset, empty or malformed in a multi-worker run
            (checked before any other work).
    """
    if config.strategy != Strategy.MULTI_WORKER.value:
        return config
    cluster = read_cluster()
    if cluster is None:
        state = "unset" if os.environ.get("TF_CONFIG") is None else "empty"
        raise ConfigError(
            f"--strategy multi-worker needs TF_CONFIG, and it is {state}. Set it on every "
            f"worker to JSON like {EXAMPLE} (the same cluster on every worker, each with its "
            "own task index), or train on one machine with --strategy default (or mirrored "
            "for its GPUs)."
        )
    if cluster.is_chief:
        return config
    return config.replace(out=tempfile.mkdtemp(prefix="edgeship-worker-"), force=True)


def _short(device: str) -> str:
    """``/job:localhost/replica:0/task:0/device:CPU:0`` and ``/cpu:0`` -> ``cpu:0``."""
    tail = device.lower().rsplit("/", 1)[-1]
    return tail.replace("device:", "")


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Set the Keras global dtype policy to ``precision`` inside the block."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(model: Any, build: Any) -> Any:
    """The float32 twin of a mixed-precision ``model`` (same weights), for export.

    TFLite has no float16 Conv2D/MatMul kernels for a mixed_float16 graph; weights of a
    mixed-precision model are float32 variables already, so rebuilding the architecture under
    the float32 policy and copying them gives the deployable model. ``build`` is a
    no-argument callable returning a fresh model of the same architecture.
    """
    with precision_policy("float32"):
        twin = build()
    twin.set_weights(model.get_weights())
    return twin


def global_batch_size(config: TrainConfig, strategy: Any) -> int:
    """Per-replica batch size times the number of replicas in sync."""
    return config.batch_size * int(strategy.num_replicas_in_sync)


def check_batch_memory(input_shape: tuple[int, ...], batch_size: int) -> None:
    """Reject a batch whose input tensor alone needs more than a quarter of the RAM."""
    per_sample = 4
    for dim in input_shape:
        per_sample *= int(dim)
    needed = per_sample * batch_size
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    if needed > total // 4:
        raise ConfigError(
            f"A batch of {batch_size} inputs of shape {input_shape} needs "
            f"{needed / 2**30:.1f} GiB for its inputs alone; this machine has "
            f"{total / 2**30:.1f} GiB. Use a smaller --batch-size."
        )
