"""Seconds `edgeship convert` spends per variant on MobileNetV2 (alpha 0.35, 96x96, 10 classes).

Usage::

    .venv/bin/python benchmarks/convert_seconds.py
    .venv/bin/python benchmarks/convert_seconds.py --variants tflite-fp32,onnx-fp32 --json out.json

Builds the model with random weights (no download), writes 100 calibration and 20 eval
inputs, runs ``convert(..., variants="all")`` once and prints a Markdown table (the "Convert"
section of benchmarks/README.md): per variant the converter call alone (``convert s``), the
call as seen from the parent (``variant s``: + process round trip and writing the file), the
runtime checks plus parity (``checks s``), the file size and the status. The shared start
(TensorFlow import and model load, SavedModel export, reference outputs) is reported once.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from edgeship.convert import convert, read_manifest
from edgeship.errors import ParityError
from edgeship.fileio import atomic_write_json
from edgeship.samples import save_samples


def build_model(folder: Path) -> Path:
    """Save MobileNetV2 (random weights) with calibration and eval inputs into ``folder``."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    model.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    save_samples(folder / "calibration.npz", rng.uniform(-1, 1, (100, 96, 96, 3)).astype("f4"))
    save_samples(folder / "eval.npz", rng.uniform(-1, 1, (20, 96, 96, 3)).astype("f4"))
    return folder / "model.keras"


def table(manifest: dict[str, Any], steps: dict[str, float], total: float) -> str:
    """Markdown table of the per-variant seconds."""
    lines = [
        "| variant | convert s | variant s | checks s | size | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for v in manifest["variants"]:
        params = v.get("params") or {}
        size = f"{v['size_bytes'] / 1024:.0f} KiB" if v.get("size_bytes") else "-"
        checks = steps.get(v["name"], 0.0) - v["seconds"]
        lines.append(
            f"| {v['name']} | {params.get('convert_seconds', float('nan')):.2f} | "
            f"{v['seconds']:.2f} | {checks:.2f} | {size} | {v['status']} |"
        )
    t = manifest.get("timings", {})
    lines.append("")
    lines.append(
        f"Shared, once per convert: converter process start with TensorFlow import and model "
        f"load {t.get('start_seconds', 0):.1f} s, SavedModel export "
        f"{t.get('export_seconds', 0):.1f} s, Keras reference outputs "
        f"{t.get('reference_seconds', 0):.1f} s. Whole convert: {total:.1f} s wall."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="all")
    parser.add_argument("--json", help="write the manifest and step seconds here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgeship-convert-bench-") as tmp:
        folder = Path(tmp)
        model = build_model(folder)
        marks: list[tuple[str, float]] = []
        started = time.perf_counter()
        try:
            convert(
                model,
                folder / "out",
                variants=args.variants,
                progress=lambda step, done, total: marks.append((step, time.perf_counter())),
            )
        except ParityError as exc:
            print(f"note: {exc}", file=sys.stderr)
        total = time.perf_counter() - started
        manifest = read_manifest(folder / "out")
    steps = {name: later - t for (name, t), (_, later) in itertools.pairwise(marks)}
    print(table(manifest, steps, total))
    shown = ("tensorflow", "tensorflow-cpu", "tf2onnx", "onnxruntime")
    versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items() if k in shown)
    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} CPUs; {versions}")
    if args.json:
        atomic_write_json(args.json, {"manifest": manifest, "step_seconds": steps, "total": total})
    return 0


if __name__ == "__main__":
    sys.exit(main())
