"""Training backends: one module per Keras 3 backend, one contract, registered by name.

A training backend is chosen before Keras is imported (``KERAS_BACKEND`` in the process that
trains). What differs per backend lives in its module here (``tensorflow``, ``jax``,
``torch``); each module imports only the standard library at import time and defines:

* ``check(config)``: refuse, before any work, what this backend cannot do (a recipe, a
  strategy, ``jit``), with a typed error naming the recipe or option, the backend and why;
* ``session()``: a context manager the whole run happens in;
* ``make_strategy(config)``: an object with ``scope()`` and ``num_replicas_in_sync``;
* ``make_dataset(x, y, batch_size, *, training, seed, augment)``: what ``model.fit`` reads;
* ``jit_compile(jit)``: the ``jit_compile`` value given to ``model.compile``;
* ``is_out_of_memory(exc)``: whether an exception raised by ``fit`` is an out-of-memory;
* ``describe()``: ``backend``, ``backend_version`` and ``device`` for the model card.

Nothing else names a backend: the loop, the CLI and the tests iterate :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from edgeship._lazy import is_available
from edgeship.errors import ConfigError, MissingDependencyError


@dataclass(frozen=True)
class TrainBackend:
    """One training backend.

    Attributes:
        name: the ``KERAS_BACKEND`` value and the ``--backend`` choice.
        module: the module under :mod:`edgeship.train.backends` holding its specifics.
        import_name: the package Keras imports for it.
        package: the package to install, as pip names it.
        extra: the edgeship extra that installs it.
    """

    name: str
    module: str
    import_name: str
    package: str
    extra: str


BACKENDS: dict[str, TrainBackend] = {
    b.name: b
    for b in (
        TrainBackend("tensorflow", "tensorflow", "tensorflow", "tensorflow", "train"),
        TrainBackend("jax", "jax", "jax", "jax[cpu]", "train-jax"),
        TrainBackend("torch", "torch", "torch", "torch", "train-torch"),
    )
}

#: The ``--backend`` choices.
BACKEND_NAMES = tuple(BACKENDS)


def default_backend() -> str:
    """``$KERAS_BACKEND`` when set, else ``tensorflow``."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def lookup(name: str) -> TrainBackend:
    """The registry entry of backend ``name``.

    Raises:
        ConfigError: ``name`` is not a training backend.
    """
    if name not in BACKENDS:
        raise ConfigError(
            f"Unknown training backend {name!r}. Expected one of: {', '.join(BACKEND_NAMES)} "
            "(the Keras 3 backends); pass --backend or set KERAS_BACKEND to one of them."
        )
    return BACKENDS[name]


def get_backend(name: str) -> ModuleType:
    """Import and return the module of backend ``name`` (imports only the standard library)."""
    return importlib.import_module(f"edgeship.train.backends.{lookup(name).module}")


def check_installed(name: str) -> None:
    """Raise :class:`MissingDependencyError` naming the extra when backend ``name``'s
    package is not installed."""
    entry = lookup(name)
    if not is_available(entry.import_name):
        raise MissingDependencyError(
            f"Training backend {name!r} needs the '{entry.import_name}' package, which is not "
            f"installed. Install it with: pip install 'edgeship[{entry.extra}]' "
            f"(or pick another --backend: {', '.join(BACKEND_NAMES)})."
        )


def check(config: Any) -> ModuleType:
    """Everything about ``config.backend`` that can be refused before training: the name,
    the package, and what the backend's module refuses (recipe, strategy, jit)."""
    module = get_backend(config.backend)
    module.check(config)
    check_installed(config.backend)
    return module
