"""Run a bench sweep on labelled devices of a Dask cluster, one configuration per task."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any

from edgeship.bench.isolate import error_row
from edgeship.bench.machine import environment
from edgeship.bench.records import BenchResults, BenchRow
from edgeship.bench.spec import FORMAT_BACKENDS, RunSpec, artifact_format
from edgeship.bench.storage import annotate_overhead, make_results
from edgeship.bench.sweep import BenchConfig, Progress, cold_count, plan, warnings_for
from edgeship.errors import ConfigError
from edgeship.fleet.cluster import Device, check_address, connect, devices
from edgeship.fleet.device import run_on_device, tag
from edgeship.fleet.labels import BACKEND_EXTRAS, check_label, device_resource
from edgeship.fleet.shipment import Shipment


@dataclass(frozen=True)
class FleetTarget:
    """Where a sweep runs.

    Attributes:
        cluster: the Dask scheduler, ``tcp://HOST:PORT``.
        devices: device labels; every configuration runs once on each.
        connect_timeout_s: seconds to wait for the scheduler.
        lost_after_s: seconds a device may have no worker before its pending rows fail.
        poll_s: how often the device list is checked while rows are pending.
    """

    cluster: str
    devices: tuple[str, ...]
    connect_timeout_s: float = 10.0
    lost_after_s: float = 3.0
    poll_s: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.devices, str) or not self.devices:
            raise ConfigError(f"devices must be a non-empty list of labels. Got: {self.devices!r}")
        object.__setattr__(self, "devices", tuple(dict.fromkeys(self.devices)))
        object.__setattr__(self, "cluster", check_address(self.cluster))
        for label in self.devices:
            check_label(label)
        for name in ("connect_timeout_s", "lost_after_s", "poll_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0. Got: {getattr(self, name)}")


def _failed(spec: RunSpec, label: str, message: str) -> BenchRow:
    return tag([error_row(spec.to_dict(), message)], label, None)[0]


def _unknown(label: str, known: dict[str, Device], target: FleetTarget) -> str:
    return (
        f"no worker advertises device {label!r} (devices in the cluster: "
        f"{', '.join(known) or 'none'}). Start one on that device: "
        f"'edgeship worker --cluster {target.cluster} --device {label}'"
    )


def _lost(label: str, target: FleetTarget) -> str:
    return (
        f"the worker of device {label!r} left the cluster during the run (it died or was "
        "stopped), so this row was not measured. Restart it with "
        f"'edgeship worker --cluster {target.cluster} --device {label}' and run again"
    )


def _backend_problem(spec: RunSpec, device: Device, address: str) -> str | None:
    """Why ``device`` cannot run ``spec``'s backend, or None when it can."""
    fmt = artifact_format(spec.artifact)
    wanted = FORMAT_BACKENDS[fmt] if spec.backend == "auto" else (spec.backend,)
    if any(b in device.backends for b in wanted):
        return None
    extra = BACKEND_EXTRAS.get(wanted[0], "litert")
    return (
        f"device {device.label!r} has no backend for this row: expected "
        f"{' or '.join(wanted)}, it has {', '.join(device.backends) or 'none'}. Install it "
        f"there (pip install 'edgeship[{extra},fleet]') and rejoin with "
        f"'edgeship worker --cluster {address} --device {device.label}'"
    )


def run_fleet(
    config: BenchConfig, target: FleetTarget, progress: Progress | None = None
) -> BenchResults:
    """Run every configuration of ``config`` on each device of ``target``.

    A device that is unknown, lacks a backend, or whose worker dies fails only its own
    rows; an artifact that changes in transit fails the rows that received it.

    Returns:
        An ``edgeship.bench/1`` document; rows carry ``device`` and ``device_env``; ``env``
        holds this machine's environment plus ``devices`` (label -> environment).

    Raises:
        FleetError: the cluster cannot be reached.
    """
    if any(b.startswith("keras:") for b in config.baselines):
        raise ConfigError(
            "Keras baselines need TensorFlow on the device; fleet workers run without it. "
            "Expected --baseline raw or none with --cluster."
        )
    # Each device measures a configuration once: interleaved repeats are a local sweep's.
    config = replace(config, repeats=1)
    specs, skipped = plan(config)
    client = connect(target.cluster, target.connect_timeout_s)
    try:
        rows = _run(client, config, target, specs, skipped, progress)
    finally:
        client.close()
    annotate_overhead(rows)
    settings = config.to_dict()
    settings.update({"cluster": target.cluster, "devices": target.devices})
    results = make_results(environment(), rows, settings)
    results["env"]["devices"] = {r["device"]: env for r in rows if (env := r.get("device_env"))}
    results["warnings"] = [f"[{r.get('device')}] {w}" for r in rows for w in warnings_for([r])]
    return results


def _run(
    client: Any,
    config: BenchConfig,
    target: FleetTarget,
    specs: list[RunSpec],
    skipped: list[BenchRow],
    progress: Progress | None,
) -> list[BenchRow]:
    known = devices(client)
    slots: list[list[BenchRow] | None] = []
    pending: dict[Any, tuple[int, str, RunSpec]] = {}
    total = (len(specs) + len(skipped)) * len(target.devices)
    counter = [0]

    def finish(slot: int, new_rows: list[BenchRow]) -> None:
        slots[slot] = new_rows
        for row in new_rows:
            counter[0] += 1
            if progress:
                progress(min(counter[0], total), total, row)

    eval_ship = Shipment.of(config.eval_data) if config.eval_data else None
    for label in target.devices:
        for row in skipped:
            slots.append(None)
            finish(len(slots) - 1, tag([row.copy()], label, None))
        device = known.get(label)
        shipped: dict[str, Any] = {}
        for spec in specs:
            slots.append(None)
            slot = len(slots) - 1
            if device is None:
                finish(slot, [_failed(spec, label, _unknown(label, known, target))])
                continue
            problem = _backend_problem(spec, device, target.cluster)
            if problem:
                finish(slot, [_failed(spec, label, problem)])
                continue
            try:
                if spec.artifact not in shipped:
                    ships = [Shipment.of(spec.artifact), eval_ship]
                    shipped[spec.artifact] = client.scatter(
                        ships, workers=list(device.workers), hash=False
                    )
            # the device left while we sent it (asyncio's TimeoutError is its own before 3.11)
            except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
                message = f"cannot send {spec.artifact} to device {label!r}: {exc}"
                finish(slot, [_failed(spec, label, message)])
                continue
            art, ev = shipped[spec.artifact]
            future = client.submit(
                run_on_device,
                label,
                spec.to_dict(),
                art,
                ev,
                config.timeout_s,
                cold_count(config, spec),
                resources={device_resource(label): 1},
                pure=False,
                key=f"edgeship-bench-{label}-{slot}-{time.time_ns()}",
            )
            pending[future] = (slot, label, spec)
    _collect(client, target, pending, finish)
    return [row for part in slots for row in (part or [])]


def _collect(client: Any, target: FleetTarget, pending: dict[Any, Any], finish: Any) -> None:
    """Wait for ``pending`` futures; fail the rows of devices whose workers are gone."""
    lost_since: dict[str, float] = {}
    checked = time.monotonic()
    while pending:
        done = [f for f in pending if f.done()]
        if not done:
            time.sleep(min(target.poll_s, 0.05))
        for future in done:
            slot, label, spec = pending.pop(future)
            finish(slot, _outcome(client, target, future, spec, label))
        now = time.monotonic()
        if not pending or now - checked < target.poll_s:
            continue
        checked = now
        alive = devices(client)
        for label in {lab for _, lab, _ in pending.values()}:
            if label in alive:
                lost_since.pop(label, None)
                continue
            if now - lost_since.setdefault(label, now) < target.lost_after_s:
                continue
            for future in [f for f, (_, lab, _) in pending.items() if lab == label]:
                slot, _, spec = pending.pop(future)
                future.cancel()
                finish(slot, [_failed(spec, label, _lost(label, target))])


def _outcome(
    client: Any, target: FleetTarget, future: Any, spec: RunSpec, label: str
) -> list[BenchRow]:
    """The rows of a finished future; an error row when it failed or was lost."""
    if future.status == "finished":
        rows = future.result()
        if isinstance(rows, list) and rows:
            return rows
        return [_failed(spec, label, "the device returned no result rows")]
    exc = future.exception() if future.status == "error" else None
    if exc is not None:
        message = f"the task failed on device {label!r}: {type(exc).__name__}: {exc}"
    elif label not in devices(client):  # its worker died and took the shipped files with it
        message = _lost(label, target)
    else:
        message = f"the cluster dropped this row's task ({future.status}); run again"
    return [_failed(spec, label, message)]
