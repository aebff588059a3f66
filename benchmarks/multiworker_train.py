"""Digits accuracy of a two-worker run vs a single-worker run with the same epochs.

Usage::

    .venv/bin/python benchmarks/multiworker_train.py                  # seeds 0,1,2; 15 epochs
    .venv/bin/python benchmarks/multiworker_train.py --seeds 0 --epochs 5 --recipe lenet5

Each run is a fresh ``edgeship train`` process (``--json``): one with ``--strategy default``,
then two on localhost (free ports, ``TF_CONFIG`` worker 0 and 1) with ``--strategy
multi-worker``. Both use the same per-replica ``--batch-size``, so the two-worker run has
twice the global batch and half the steps per epoch. Prints a Markdown table (the
"Multi-worker training" part of benchmarks/README.md) and writes the raw numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from edgeship.fileio import atomic_write_json
from edgeship.netutil import free_ports
from edgeship.versions import installed_versions

CLI = "from edgeship.cli.main import main; raise SystemExit(main())"
TIMEOUT = 1800.0


def launch(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "train", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        start_new_session=True,
    )


def collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """Each process's JSON summary; kills them all when one fails or time runs out."""
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for p, (_, stderr) in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"a training process failed ({p.returncode}):\n{stderr[-3000:]}")
    return [json.loads(stdout[stdout.index("{") :]) for stdout, _ in outputs]


def run(workers: int, common: list[str], out: Path) -> dict[str, Any]:
    """One training run with ``workers`` processes; the chief's card and wall seconds."""
    start = time.perf_counter()
    if workers == 1:
        [summary] = collect([launch([*common, "--out", str(out)], {})])
    else:
        ports = free_ports(workers)
        cluster = {"worker": [f"localhost:{p}" for p in ports]}
        procs = [
            launch(
                [*common, "--strategy", "multi-worker", "--out", str(out)],
                {
                    "TF_CONFIG": json.dumps(
                        {"cluster": cluster, "task": {"type": "worker", "index": i}}
                    )
                },
            )
            for i in range(workers)
        ]
        summary = collect(procs)[0]
    wall = time.perf_counter() - start
    card = json.loads((out / "edgeship.json").read_text())
    t = card["training"]
    return {
        "workers": workers,
        "test_accuracy": summary["test_accuracy"],
        "global_batch_size": t["global_batch_size"],
        "epochs_run": t["epochs_run"],
        "seconds": wall,
        "train_seconds": t["seconds"],
        "seconds_per_epoch": t["seconds_per_epoch"],
        "cpu_seconds_per_epoch": t.get("cpu_seconds_per_epoch"),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| seed | workers | global batch | epochs run | test accuracy | run s (wall) "
        "| s/epoch (wall) | CPU s/epoch (chief) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['workers']} | {r['global_batch_size']} | {r['epochs_run']} "
            f"| {r['test_accuracy']:.4f} | {r['seconds']:.1f} | {r['seconds_per_epoch']:.2f} "
            f"| {r['cpu_seconds_per_epoch']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="mnist-cnn")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64, help="per replica")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", default="benchmarks/results/multiworker_train.json")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgeship-mw-bench-") as tmp:
        for seed in seeds:
            common = ["--recipe", args.recipe, "--dataset", "digits", "--epochs"]
            common += [str(args.epochs), "--batch-size", str(args.batch_size)]
            common += ["--seed", str(seed), "--patience", "0"]
            for workers in (1, 2):  # alternate, so load drifts hit both alike
                row = run(workers, common, Path(tmp) / f"s{seed}-w{workers}")
                rows.append({"seed": seed, **row})
                print(
                    f"seed {seed}, {workers} worker(s): {row['test_accuracy']:.4f} "
                    f"in {row['seconds']:.1f} s",
                    flush=True,
                )
    deltas = [
        one["test_accuracy"] - two["test_accuracy"]
        for one, two in zip(rows[0::2], rows[1::2], strict=True)
    ]
    summary = {
        "median_accuracy_1_worker": median(r["test_accuracy"] for r in rows[0::2]),
        "median_accuracy_2_workers": median(r["test_accuracy"] for r in rows[1::2]),
        "max_abs_delta_points": max(abs(d) for d in deltas) * 100,
        "median_seconds_1_worker": median(r["seconds"] for r in rows[0::2]),
        "median_seconds_2_workers": median(r["seconds"] for r in rows[1::2]),
    }
    atomic_write_json(
        args.json,
        {
            "schema": "edgeship.multiworker-train-bench/1",
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "versions": installed_versions(),
            "settings": vars(args),
            "rows": rows,
            "summary": summary,
        },
    )
    print(markdown(rows))
    print(json.dumps(summary, indent=2))
    return 0 if summary["max_abs_delta_points"] <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
