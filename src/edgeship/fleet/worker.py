"""A device's fleet worker: a Dask worker that advertises its device label and backends."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any

from edgeship.errors import ConfigError, FleetError
from edgeship.fleet.cluster import JOIN_HINT, check_address
from edgeship.fleet.labels import check_label, detected_backends, worker_resources


def serve(
    cluster: str,
    label: str,
    backends: tuple[str, ...] | None = None,
    connect_timeout_s: float = 30.0,
) -> int:
    """Join the cluster at ``cluster`` as device ``label`` and serve until stopped.

    One task runs at a time (one thread), so configurations never overlap on the device;
    each still runs in its own child process, which ends when this worker dies.

    Args:
        cluster: scheduler address, ``tcp://HOST:PORT``.
        label: device label that ``edgeship bench --device`` names.
        backends: backends to offer (default: every one installed here).
        connect_timeout_s: seconds to wait for the scheduler before giving up.

    Returns:
        0 after a clean stop by SIGINT or SIGTERM.

    Raises:
        FleetError: the scheduler cannot be reached, or the worker lost it (the scheduler
            stopped, or the connection broke) and stopped; ConfigError: a bad label or
            backend.
    """
    from edgeship._lazy import require
    from edgeship.bench.worker import EXIT_WITH_PARENT_ENV

    address = check_address(cluster)
    check_label(label)
    found = detected_backends()
    offered = found if backends is None else tuple(backends)
    missing = [b for b in offered if b not in found]
    if missing:
        raise ConfigError(
            f"Backends {missing} are not installed here (installed: {', '.join(found) or 'none'})."
            " Expected installed ones; pip install 'edgeship[litert,fleet]' or '[onnx,fleet]'."
        )
    if not connect_timeout_s > 0:
        raise ConfigError(f"connect timeout must be > 0. Got: {connect_timeout_s}")
    require("distributed", "fleet", "joining a device cluster")
    os.environ[EXIT_WITH_PARENT_ENV] = str(os.getpid())
    resources = worker_resources(label, offered)
    return asyncio.run(_serve(address, label, resources, offered, connect_timeout_s))


#: Dask settings of a fleet worker: no statistical profiler sampling the worker every 10 ms
#: and slower event-loop and system monitors, so an idle worker takes less CPU beside the
#: model being timed (see benchmarks/README.md).
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


async def _serve(
    address: str,
    label: str,
    resources: dict[str, float],
    backends: tuple[str, ...],
    timeout_s: float,
) -> int:
    import dask
    from distributed import Worker

    if os.environ.get("EDGESHIP_WORKER_DASK_DEFAULTS") != "1":
        dask.config.set(QUIET)
    worker: Any = Worker(
        address,
        name=f"{label}@{socket.gethostname()}:{os.getpid()}",
        nthreads=1,
        resources=resources,
        death_timeout=timeout_s,
        dashboard=False,
        memory_limit=0,
    )
    loop = asyncio.get_running_loop()
    stopped: list[asyncio.Future[Any]] = []  # closings asked for by SIGINT/SIGTERM

    def stop() -> None:
        stopped.append(asyncio.ensure_future(worker.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await worker
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:  # one class from 3.11
        await worker.close()
        raise FleetError(
            f"Cannot join the cluster at {address} within {timeout_s:g} s "
            f"({type(exc).__name__}). Expected a Dask scheduler there. {JOIN_HINT}"
        ) from None
    print(
        f"edgeship worker: device {label} joined {address} as {worker.address} "
        f"(backends: {', '.join(backends) or 'none'})",
        file=sys.stderr,
        flush=True,
    )
    await worker.finished()
    if stopped:
        return 0
    raise FleetError(
        f"Lost the cluster at {address}: the scheduler stopped or the connection to it broke, "
        f"so device {label} left the cluster. Expected the scheduler to keep running; restart "
        f"it, then rejoin with 'edgeship worker --cluster {address} --device {label}'."
    )
