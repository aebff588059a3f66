"""The refusals the backends other than TensorFlow share, each a typed error before training."""

from __future__ import annotations

from typing import Any

from edgeship.errors import ConfigError


def refuse(
    config: Any, backend: str, recipes: dict[str, str], *, data_parallel: bool, no_jit: str = ""
) -> None:
    """Raise :class:`ConfigError` for what ``backend`` cannot do.

    Args:
        config: the run's :class:`~edgeship.train.config.TrainConfig`.
        backend: the backend's name, for the messages.
        recipes: the recipes it refuses, with why.
        data_parallel: whether it trains ``mirrored`` (data parallel on the local devices).
        no_jit: why it refuses ``jit`` (empty: it takes ``jit``).
    """
    if config.recipe in recipes:
        raise ConfigError(
            f"Recipe {config.recipe!r} cannot train on backend {backend!r}: "
            f"{recipes[config.recipe]}."
        )
    if config.strategy == "multi-worker":
        raise ConfigError(
            f"Strategy 'multi-worker' is TensorFlow's (tf.distribute.MultiWorkerMirroredStrategy)"
            f"; backend {backend!r} cannot train across machines. Use --backend tensorflow, or "
            f"--strategy {'mirrored (the local devices) or ' if data_parallel else ''}default."
        )
    if config.strategy == "mirrored" and not data_parallel:
        raise ConfigError(
            f"Strategy 'mirrored' (data parallel) is not supported by Keras on backend "
            f"{backend!r}. Use --strategy default on {backend}, or --backend jax or tensorflow "
            "to train on several devices."
        )
    if config.jit and no_jit:
        raise ConfigError(
            f"--jit (XLA) is not available on backend {backend!r}: {no_jit}. Train without "
            "--jit, or use --backend jax or tensorflow for XLA."
        )
