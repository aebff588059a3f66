"""The JAX backend: numpy input (``keras.utils.PyDataset``), ``keras.distribution.DataParallel``
over the local devices, every train step compiled by XLA (``jax.jit``).

TensorFlow is never imported. Refused here: ``multi-worker`` (tf.distribute only) and the
``gan`` recipe (its adversarial train step is written with ``tf.GradientTape``).
"""

from __future__ import annotations

from typing import Any

from edgeship.errors import ConfigError, TrainingError

NAME = "jax"
#: Recipes this backend cannot train, and why.
REFUSED_RECIPES = {
    "gan": "its adversarial train step is written with tf.GradientTape (TensorFlow only); "
    "train it with --backend tensorflow",
}


def check(config: Any) -> None:
    """Refuse the gan recipe and multi-worker training."""
    from edgeship.train.backends._refusals import refuse

    refuse(config, NAME, REFUSED_RECIPES, data_parallel=True)


def session() -> Any:
    """The block training runs in: Keras kept from importing TensorFlow."""
    from edgeship.train.backends._common import without_tensorflow

    return without_tensorflow()


def make_strategy(config: Any) -> Any:
    """One device, or ``keras.distribution.DataParallel`` over the local devices (all of
    them, or ``config.devices``) for ``mirrored``: set for the whole process."""
    import keras

    from edgeship.train.backends._common import LocalStrategy

    if config.strategy != "mirrored":
        return LocalStrategy()
    known = keras.distribution.list_devices()
    devices = list(known)
    if config.devices:
        devices = [_short(d) for d in config.devices]
        missing = [d for d in devices if d not in known]
        if missing:
            raise ConfigError(
                f"Data parallel devices {missing} do not exist on JAX. Expected some of: "
                f"{known}. On a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
                "makes N host devices."
            )
    try:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    except (ValueError, RuntimeError) as exc:
        raise TrainingError(f"Cannot create DataParallel over {devices}: {exc}") from exc
    return LocalStrategy(len(devices))


def make_dataset(
    x: Any, y: Any, batch_size: int, *, training: bool, seed: int = 0, augment: Any = None
) -> Any:
    """A ``keras.utils.PyDataset`` over the arrays (no TensorFlow); under data parallel,
    every batch splits evenly over the devices."""
    import keras

    from edgeship.train.backends._common import make_array_dataset

    distribution = keras.distribution.distribution()
    devices = 1 if distribution is None else int(distribution.device_mesh.devices.size)
    return make_array_dataset(
        x, y, batch_size, training=training, seed=seed, augment=augment, multiple=devices
    )


def jit_compile(jit: bool) -> bool:
    """Always True: Keras on JAX runs every step through ``jax.jit`` (XLA); without it each
    op would run eagerly, many times slower, so there is nothing to turn off."""
    return True


def is_out_of_memory(exc: BaseException) -> bool:
    """XLA's ``RESOURCE_EXHAUSTED``."""
    return "RESOURCE_EXHAUSTED" in str(exc)


def describe() -> dict[str, str]:
    """Backend, its version and the device (the first accelerator's kind, else CPU)."""
    import jax

    first = jax.devices()[0]
    device = "CPU" if first.platform == "cpu" else str(first.device_kind)
    return {"backend": NAME, "backend_version": jax.__version__, "device": device}


def _short(device: str) -> str:
    """``/cpu:1``, ``/device:CPU:1`` and ``cpu:1`` -> ``cpu:1``."""
    return device.lower().rsplit("/", 1)[-1].replace("device:", "")
