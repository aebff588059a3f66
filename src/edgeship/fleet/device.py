"""What a fleet worker runs for one configuration: unpack, measure in a child, tag the rows."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

from edgeship.fleet.shipment import Shipment

if TYPE_CHECKING:
    from edgeship.bench.records import BenchRow, DeviceEnv, RunSpecDict

#: Keys of :func:`edgeship.bench.machine.environment` kept in each row's ``device_env``.
DEVICE_ENV_KEYS = ("cpu", "machine", "cores", "usable_cores", "os", "python", "versions")


@lru_cache(maxsize=1)
def device_environment() -> DeviceEnv:
    """This device's CPU model, cores, OS, Python and package versions (cached)."""
    import platform

    from edgeship.bench.machine import environment

    env = environment()
    out = cast("DeviceEnv", {k: env.get(k) for k in DEVICE_ENV_KEYS})
    out["hostname"] = platform.node()
    return out


def tag(rows: list[BenchRow], label: str, env: DeviceEnv | None) -> list[BenchRow]:
    """Set ``device`` and ``device_env`` on ``rows`` (in place); returns them."""
    for row in rows:
        row["device"] = label
        row["device_env"] = env
    return rows


def run_on_device(
    label: str,
    spec_data: RunSpecDict,
    artifact: Shipment,
    eval_data: Shipment | None,
    timeout_s: float,
    cold: int = 0,
) -> list[BenchRow]:
    """Measure one configuration here, on the device; called by Dask on a labelled worker.

    The artifact (and eval data) are checked by sha256 and written to a temporary folder;
    the configuration runs in its own process, as in a local sweep. Failures become rows
    with ``error`` set.

    Returns:
        The configuration's rows, each with ``device`` and ``device_env``; ``artifact`` and
        ``eval_data`` name the sender's paths.
    """
    from edgeship.bench.isolate import error_row
    from edgeship.bench.spec import RunSpec
    from edgeship.bench.sweep import run_configuration
    from edgeship.errors import EdgeshipError

    env = device_environment()
    with tempfile.TemporaryDirectory(prefix="edgeship-fleet-") as tmp:
        try:
            local: dict[str, object] = {**spec_data, "artifact": str(artifact.unpack(tmp))}
            if eval_data is not None:
                folder = Path(tmp) / "eval"
                folder.mkdir()
                local["eval_data"] = str(eval_data.unpack(folder))
            spec = RunSpec.from_dict(local)
        except EdgeshipError as exc:
            return tag([error_row(spec_data, f"{type(exc).__name__}: {exc}")], label, env)
        rows = run_configuration(spec, isolate=True, timeout_s=timeout_s, cold=cold)
    for row in rows:
        row["artifact"] = spec_data["artifact"]
    return tag(rows, label, env)
