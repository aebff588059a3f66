"""Connect to a Dask scheduler and list the labelled devices that joined it."""

from __future__ import annotations

import asyncio
import re
import warnings
from dataclasses import dataclass
from typing import Any

from edgeship.errors import ConfigError, FleetError
from edgeship.fleet.labels import parse_resources

_ADDRESS = re.compile(r"^(tcp://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")

JOIN_HINT = (
    "Start a scheduler with 'dask scheduler --port 8786' and join each device with "
    "'edgeship worker --cluster tcp://HOST:8786 --device LABEL'."
)


@dataclass(frozen=True)
class Device:
    """A labelled device in the cluster: its workers' addresses and backends."""

    label: str
    workers: tuple[str, ...]
    backends: tuple[str, ...]


TLS_HINT = (
    "edgeship passes no TLS certificates to Dask, so tls:// addresses are refused. Run the "
    "scheduler and the devices on a trusted network with tcp://HOST:PORT, or reach a remote "
    "scheduler through an SSH tunnel: 'ssh -N -L 8786:localhost:8786 USER@SCHEDULER-HOST' "
    "on the device, then --cluster tcp://127.0.0.1:8786."
)


def check_address(address: str) -> str:
    """``tcp://HOST:PORT`` (a bare ``HOST:PORT`` gets ``tcp://``); ConfigError otherwise.

    ``tls://`` is refused with a hint (trusted network or SSH tunnel): no TLS settings are
    passed to Dask, so such a connection could not be set up.
    """
    if isinstance(address, str) and address.strip().lower().startswith("tls://"):
        raise ConfigError(f"TLS cluster addresses are not supported. Got: {address!r}. {TLS_HINT}")
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise ConfigError(
            f"A cluster address is tcp://HOST:PORT, e.g. tcp://10.0.0.2:8786. Got: {address!r}"
        )
    address = address.strip()
    return address if "://" in address else "tcp://" + address


def connect(address: str, timeout_s: float = 10.0) -> Any:
    """A ``distributed.Client`` on the scheduler at ``address``.

    Raises:
        FleetError: the scheduler did not answer within ``timeout_s``.
        MissingDependencyError: Dask distributed is not installed.
    """
    from edgeship._lazy import require

    require("distributed", "fleet", "fleet benchmarking")
    import logging

    from distributed import Client

    address = check_address(address)
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the error below says it better than its retries
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = Client(address, timeout=timeout_s, set_as_default=False)
        for w in caught:
            if not _numpy_only_mismatch(str(w.message)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return client
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:  # one class from 3.11
        raise FleetError(
            f"Cannot reach the cluster at {address} within {timeout_s:g} s ({type(exc).__name__}). "
            f"Expected a Dask scheduler there. {JOIN_HINT}"
        ) from None
    finally:
        quiet.setLevel(level)


def _numpy_only_mismatch(message: str) -> bool:
    """Whether a Dask version-mismatch warning names numpy alone: devices differ in numpy
    (1.x or 2.x) by design, and fleet tasks exchange no numpy objects."""
    if "Mismatched versions" not in message:
        return False
    rows = [line.split("|")[1].strip() for line in message.splitlines() if line.count("|") > 3]
    return [r for r in rows if r != "Package"] == ["numpy"]


def devices(client: Any) -> dict[str, Device]:
    """Labelled devices now in the cluster, by label."""
    found: dict[str, tuple[list[str], set[str]]] = {}
    for address, info in (client.scheduler_info(n_workers=-1).get("workers") or {}).items():
        label, backends = parse_resources(info.get("resources") or {})
        if label is None:
            continue
        workers, known = found.setdefault(label, ([], set()))
        workers.append(address)
        known.update(backends)
    return {
        label: Device(label, tuple(sorted(w)), tuple(sorted(b)))
        for label, (w, b) in sorted(found.items())
    }
