"""Fleet bench vs local bench of the same artifact on this machine, and the idle worker.

1. A local cluster with one device, ``cpu-a`` (``edgeship worker`` on this machine), then
   ``ROUNDS`` alternating ABBA rounds of ``edgeship bench ARTIFACT`` (local: the sweep, each
   configuration in its own process) and ``edgeship bench ARTIFACT --cluster ... --device
   cpu-a`` (the same child process, started by the Dask worker). Reported: the medians of
   both p50s and the median of the per-round ratios fleet / local (pairing cancels this
   shared machine's drift).
2. The idle footprint of that worker process (CPU % of one core and RSS over ``--idle``
   seconds with nothing to run), and of the scheduler, from ``/proc``.
3. The install size of Dask distributed and the packages it pulls in (``fleet`` extra),
   from the installed files' sizes.

    python benchmarks/fleet_overhead.py runs/fleet/artifacts/tflite-fp32.tflite
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeship.bench import BenchConfig, run_sweep
from edgeship.fileio import atomic_write_json
from edgeship.fleet import FleetTarget, run_fleet
from edgeship.fleet.local import LocalFleet

ROOT = Path(__file__).resolve().parents[1]


def _p50(results: dict[str, Any]) -> float:
    row = results["results"][0]
    if row.get("error"):
        raise SystemExit(f"bench failed: {row['error']}")
    return float(row["latency_ms"]["p50"])


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_footprint(pids: dict[str, int], seconds: float) -> dict[str, dict[str, float]]:
    """CPU % of one core and RSS (MiB) of each process over ``seconds`` of idling."""
    hz = os.sysconf("SC_CLK_TCK")
    start = {name: _ticks(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    return {
        name: {
            "cpu_percent": 100.0 * (_ticks(pid) - start[name]) / hz / seconds,
            "rss_mb": _rss_mb(pid),
        }
        for name, pid in pids.items()
    }


def _requires(name: str) -> list[str]:
    out = []
    for req in metadata.requires(name) or []:
        if "extra ==" in req:
            continue
        out.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].lower())
    return out


def install_size_mb(root: str, skip: tuple[str, ...] = ("numpy",)) -> tuple[float, list[str]]:
    """Installed size of ``root`` and its dependency closure (less ``skip``), in MiB."""
    seen: set[str] = set()
    todo = [root]
    total = 0
    while todo:
        name = todo.pop()
        if name in seen or name in skip:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for f in dist.files or []:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
        todo += _requires(name)
    return total / (1024 * 1024), sorted(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact")
    parser.add_argument("--rounds", type=int, default=8, help="ABBA rounds (default 8)")
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds to measure")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fleet.json"))
    args = parser.parse_args()
    config = BenchConfig(artifacts=(args.artifact,), min_seconds=args.min_seconds)
    local: list[float] = []
    fleet: list[float] = []
    with LocalFleet(["cpu-a"]) as cluster:
        target = FleetTarget(cluster.address, ("cpu-a",))
        for i in range(args.rounds):
            order = ("local", "fleet") if i % 2 == 0 else ("fleet", "local")
            for which in order:
                if which == "local":
                    local.append(_p50(run_sweep(config)))
                else:
                    fleet.append(_p50(run_fleet(config, target)))
            print(f"round {i + 1}: local {local[-1]:.5f} ms, fleet {fleet[-1]:.5f} ms", flush=True)
        idle = idle_footprint(
            {"worker": cluster.pids()["cpu-a"], "scheduler": cluster.pids()["scheduler"]},
            args.idle,
        )
    ratios = [f / lo for f, lo in zip(fleet, local, strict=True)]
    size, packages = install_size_mb("distributed")
    result = {
        "schema": "edgeship.bench-fleet/1",
        "artifact": args.artifact,
        "rounds": args.rounds,
        "min_seconds": args.min_seconds,
        "local_p50_ms": local,
        "fleet_p50_ms": fleet,
        "median_local_p50_ms": statistics.median(local),
        "median_fleet_p50_ms": statistics.median(fleet),
        "median_ratio_fleet_over_local": statistics.median(ratios),
        "idle_seconds": args.idle,
        "idle": idle,
        "install_mb": size,
        "install_packages": packages,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=2))
    return 0 if abs(result["median_ratio_fleet_over_local"] - 1) <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
