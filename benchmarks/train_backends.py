"""mnist-cnn on digits on every installed Keras backend, over several seeds: test accuracy
and CPU training speed side by side.

Usage::

    .venv/bin/python benchmarks/train_backends.py                    # 3 seeds, 15 epochs
    .venv/bin/python benchmarks/train_backends.py --seeds 0 --epochs 3 --json out.json

Each run trains in its own process on its backend (``edgeship.train.child``), as
``edgeship train --backend B`` does from a process whose Keras runs on another backend.
Prints a Markdown table (the "Train on each backend" section of benchmarks/README.md).
Steps/s are ``ceil(train samples / batch)`` over the mean wall seconds of the epochs after
the first (the first one compiles); on a shared machine the CPU seconds are the steadier
number.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeship._lazy import is_available
from edgeship.fileio import atomic_write_json
from edgeship.train.backends import BACKEND_NAMES, BACKENDS
from edgeship.train.child import run_in_child
from edgeship.train.config import TrainConfig


def run(backend: str, seed: int, epochs: int, batch: int) -> dict[str, Any]:
    """One training run in a child process; its accuracy and speed."""
    with tempfile.TemporaryDirectory(prefix=f"train-{backend}-") as tmp:
        config = TrainConfig(
            recipe="mnist-cnn",
            dataset="digits",
            epochs=epochs,
            batch_size=batch,
            seed=seed,
            backend=backend,
            early_stopping_patience=0,
            out=tmp,
            verbose=0,
        )
        result = run_in_child(config)
    training = result.card.training
    train_samples = result.card.dataset["splits"]["train"]
    steps = math.ceil(train_samples / batch)
    return {
        "backend": backend,
        "backend_version": training["backend_version"],
        "seed": seed,
        "test_accuracy": result.test_accuracy,
        "first_epoch_seconds": training["first_epoch_seconds"],
        "seconds_per_epoch": training["seconds_per_epoch"],
        "cpu_seconds_per_epoch": training["cpu_seconds_per_epoch"],
        "steps_per_s": steps / training["seconds_per_epoch"],
    }


def table(runs: list[dict[str, Any]]) -> str:
    """Markdown: per backend, accuracy per seed, mean, and speed."""
    lines = [
        "| backend | version | accuracy per seed (%) | mean (%) | vs tensorflow (pts) "
        "| steps/s | CPU s/epoch | first epoch s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_backend: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_backend.setdefault(r["backend"], []).append(r)
    base = by_backend.get("tensorflow")
    base_mean = statistics.mean(r["test_accuracy"] for r in base) * 100 if base else None
    for backend, rs in by_backend.items():
        accs = [r["test_accuracy"] * 100 for r in rs]
        mean = statistics.mean(accs)
        delta = "" if base_mean is None else f"{mean - base_mean:+.2f}"
        lines.append(
            f"| {backend} | {rs[0]['backend_version']} | {', '.join(f'{a:.2f}' for a in accs)} "
            f"| {mean:.2f} | {delta} | {statistics.median(r['steps_per_s'] for r in rs):.0f} "
            f"| {statistics.median(r['cpu_seconds_per_epoch'] for r in rs):.2f} "
            f"| {statistics.median(r['first_epoch_seconds'] for r in rs):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", help="write the runs here")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if is_available(BACKENDS[b].import_name)]
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for backend in backends:  # alternate backends so that load drifts hit each alike
            runs.append(run(backend, seed, args.epochs, args.batch_size))
            print(runs[-1], file=sys.stderr)
    if args.json:
        atomic_write_json(Path(args.json), {"runs": runs})
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
