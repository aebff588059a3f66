"""Train every recipe on digits and record test accuracy and seconds per epoch.

Usage::

    .venv/bin/python benchmarks/train_recipes.py                      # all recipes, 15 epochs
    .venv/bin/python benchmarks/train_recipes.py --recipes mnist-cnn,lenet5 --epochs 15
    .venv/bin/python benchmarks/train_recipes.py --json benchmarks/results/train_recipes.json

Prints a Markdown table (the "Train" section of benchmarks/README.md) and writes the raw
numbers as JSON. Wall seconds per epoch depend on other load on the machine; CPU seconds
(process time, all threads) are the steadier number on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edgeship.fileio import atomic_write_json
from edgeship.train import TrainConfig, train
from edgeship.versions import installed_versions

RUNS: dict[str, dict[str, Any]] = {
    "mnist-cnn": {"dataset": "digits"},
    "lenet5": {"dataset": "digits"},
    "alexnet-small": {"dataset": "digits"},
    "vgg-small": {"dataset": "digits"},
    "mobilenetv2": {"dataset": "digits", "image_size": (32, 32)},
    "lstm": {"dataset": "digits-seq"},
    "gan": {"dataset": "digits"},
}


def run_one(recipe: str, epochs: int, seed: int, out: Path) -> dict[str, Any]:
    """Train one recipe and return its row."""
    settings = RUNS[recipe]
    start = time.perf_counter()
    result = train(
        TrainConfig(
            recipe=recipe,
            epochs=epochs,
            seed=seed,
            out=str(out / recipe),
            verbose=0,
            force=True,
            **settings,
        )
    )
    t = result.card.training
    return {
        "recipe": recipe,
        "dataset": settings["dataset"],
        "epochs": epochs,
        "epochs_run": t["epochs_run"],
        "test_accuracy": result.test_accuracy,
        "seconds_per_epoch": t["seconds_per_epoch"],
        "cpu_seconds_per_epoch": t.get("cpu_seconds_per_epoch"),
        "first_epoch_seconds": t["first_epoch_seconds"],
        "total_seconds": time.perf_counter() - start,
        "metrics": result.card.metrics,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The README table of ``rows``."""
    lines = [
        "| recipe | dataset | epochs run / max | test accuracy | s/epoch (wall) "
        "| CPU s/epoch | first epoch s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = "n/a (generator)" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        lines.append(
            f"| {r['recipe']} | {r['dataset']} | {r['epochs_run']} / {r['epochs']} | {acc} "
            f"| {r['seconds_per_epoch']:.2f} | {r['cpu_seconds_per_epoch']:.2f} "
            f"| {r['first_epoch_seconds']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(RUNS), help="comma-separated recipes")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="benchmarks/results/train_recipes.json")
    args = parser.parse_args(argv)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = sorted(set(recipes) - set(RUNS))
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; expected some of {list(RUNS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeship-train-bench-") as tmp:
        for recipe in recipes:
            row = run_one(recipe, args.epochs, args.seed, Path(tmp))
            rows.append(row)
            print(f"{recipe}: {row['test_accuracy']} in {row['total_seconds']:.1f} s", flush=True)
    atomic_write_json(
        args.json,
        {
            "schema": "edgeship.train-bench/1",
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "versions": installed_versions(),
            "rows": rows,
        },
    )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
