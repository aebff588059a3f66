"""Device labels and backends, advertised by a fleet worker as Dask resources."""

from __future__ import annotations

import re
from typing import Any

from edgeship.errors import ConfigError
from edgeship.runtime.backends import BACKENDS

#: Prefix of the Dask resource that marks a worker's device label.
DEVICE_PREFIX = "edgeship-device:"
#: Prefix of the Dask resources that name the backends a worker can run.
BACKEND_PREFIX = "edgeship-backend:"

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

#: Backend name -> module that provides it on a device (tf-lite, TensorFlow itself, is left out:
#: a device runs the light runtimes).
BACKEND_MODULES = {
    name: info.import_name for name, info in BACKENDS.items() if info.extra != "convert"
}
#: The pip extra that installs each backend.
BACKEND_EXTRAS = {name: BACKENDS[name].extra for name in BACKEND_MODULES}


def check_label(label: str) -> str:
    """Return ``label`` when it is a valid device label; a :class:`ConfigError` otherwise."""
    if not isinstance(label, str) or not _LABEL.match(label):
        raise ConfigError(
            "A device label is 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit (e.g. 'pi5-kitchen'). Got: {label!r}"
        )
    return label


def device_resource(label: str) -> str:
    """The Dask resource name of device ``label``."""
    return DEVICE_PREFIX + check_label(label)


def detected_backends() -> tuple[str, ...]:
    """Backends importable here (without importing them)."""
    from edgeship._lazy import is_available

    return tuple(name for name, module in BACKEND_MODULES.items() if is_available(module))


def worker_resources(label: str, backends: tuple[str, ...]) -> dict[str, float]:
    """The resources a worker for ``label`` advertises: its label and its backends."""
    unknown = [b for b in backends if b not in BACKEND_MODULES]
    if unknown:
        raise ConfigError(
            f"Unknown backends {unknown}. Expected some of: {', '.join(BACKEND_MODULES)}."
        )
    out = {device_resource(label): 1.0}
    out.update({BACKEND_PREFIX + b: 1.0 for b in backends})
    return out


def parse_resources(resources: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """``(label, backends)`` advertised by a worker's resources (label None: not ours)."""
    label = next(
        (k.removeprefix(DEVICE_PREFIX) for k in resources if k.startswith(DEVICE_PREFIX)), None
    )
    backends = tuple(
        sorted(k.removeprefix(BACKEND_PREFIX) for k in resources if k.startswith(BACKEND_PREFIX))
    )
    return label, backends
