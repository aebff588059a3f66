"""The TensorFlow backend: tf.data input, tf.distribute strategies, XLA through ``jit_compile``.

Every recipe trains here; ``multi-worker`` (``tf.distribute.MultiWorkerMirroredStrategy``)
is this backend's only.
"""

from __future__ import annotations

from typing import Any

NAME = "tensorflow"


def check(config: Any) -> None:
    """Nothing is refused on TensorFlow beyond what :class:`TrainConfig` checks."""


def session() -> Any:
    """The block training runs in: nothing to set up."""
    import contextlib

    return contextlib.nullcontext()


def make_strategy(config: Any) -> Any:
    """The ``tf.distribute`` strategy named by ``config.strategy``."""
    from edgeship.train.distribute import make_strategy as make_tf_strategy

    return make_tf_strategy(config)


def make_dataset(
    x: Any, y: Any, batch_size: int, *, training: bool, seed: int = 0, augment: Any = None
) -> Any:
    """A ``tf.data.Dataset`` (see :func:`edgeship.train.datasets.make_tf_dataset`)."""
    from edgeship.train.datasets import make_tf_dataset

    return make_tf_dataset(x, y, batch_size, training=training, seed=seed, augment=augment)


def jit_compile(jit: bool) -> bool:
    """XLA when asked for; TensorFlow's graph otherwise."""
    return bool(jit)


def is_out_of_memory(exc: BaseException) -> bool:
    """``tf.errors.ResourceExhaustedError``."""
    import tensorflow as tf

    return isinstance(exc, tf.errors.ResourceExhaustedError)


def describe() -> dict[str, str]:
    """Backend, its version and the device that trains (the first GPU's name, else CPU)."""
    import tensorflow as tf

    device = "CPU"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        device = str(details.get("device_name", gpus[0].name))
    return {"backend": NAME, "backend_version": tf.__version__, "device": device}
