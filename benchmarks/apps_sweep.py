"""Every keras.applications family, smallest member, random weights, to every variant.

Usage::

    nice -n 19 .venv/bin/python benchmarks/apps_sweep.py          # all families, README table
    .venv/bin/python benchmarks/apps_sweep.py --family MobileNet,VGG16 --variants tflite-fp32 \\
        --no-readme

One member per family (:data:`FAMILIES`: the smallest one, at the smallest input it accepts,
at least 32x32; 10 classes; ``weights=None``, so nothing is downloaded) is saved with 40
calibration and 20 eval inputs and goes through ``convert(..., variants=...)``. The table
(family x variant -> status, route, size, max abs error, top-1 agreement) replaces the block
between the ``apps-sweep`` markers in benchmarks/README.md; the variant records go to
benchmarks/results/apps_sweep.json. Exit status 0 only when every fp32 variant is ok within
1e-4 and at least 95% of the cells are ok.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from convert_zoo import add_from_json, compact, merged, table, write_readme  # noqa: E402

from edgeship.convert import convert, read_manifest  # noqa: E402
from edgeship.convert.variants import VARIANTS  # noqa: E402
from edgeship.errors import ParityError  # noqa: E402
from edgeship.fileio import atomic_write_json  # noqa: E402
from edgeship.samples import save_samples  # noqa: E402

MARKS = ("<!-- apps-sweep:begin -->", "<!-- apps-sweep:end -->")
SEED = 0

#: family module -> (smallest member, input side, extra constructor arguments, input range).
#: Members with built-in preprocessing take raw 0..255 pixels; the others take -1..1.
FAMILIES: dict[str, tuple[str, int, dict[str, Any], tuple[float, float]]] = {
    "mobilenet": ("MobileNet", 32, {"alpha": 0.25}, (-1.0, 1.0)),
    "mobilenet_v3": ("MobileNetV3Small", 32, {"alpha": 0.75}, (0.0, 255.0)),
    "mobilenet_v2": ("MobileNetV2", 32, {"alpha": 0.35}, (-1.0, 1.0)),
    "convnext": ("ConvNeXtTiny", 32, {}, (0.0, 255.0)),
    "efficientnet": ("EfficientNetB0", 32, {}, (0.0, 255.0)),
    "efficientnet_v2": ("EfficientNetV2B0", 32, {}, (0.0, 255.0)),
    "nasnet": ("NASNetMobile", 32, {}, (-1.0, 1.0)),
    "densenet": ("DenseNet121", 32, {}, (-1.0, 1.0)),
    "resnet_v2": ("ResNet50V2", 32, {}, (-1.0, 1.0)),
    "resnet": ("ResNet50", 32, {}, (-1.0, 1.0)),
    "xception": ("Xception", 71, {}, (-1.0, 1.0)),
    "inception_v3": ("InceptionV3", 75, {}, (-1.0, 1.0)),
    "vgg": ("VGG16", 32, {}, (-1.0, 1.0)),
    "inception_resnet_v2": ("InceptionResNetV2", 75, {}, (-1.0, 1.0)),
}


def build(member: str, out: Path) -> Path:
    """Save ``member`` (random weights) with calibration and eval samples into ``out``."""
    import keras

    family = next(f for f, (m, *_) in FAMILIES.items() if m == member)
    _, side, extra, (low, high) = FAMILIES[family]
    keras.utils.set_random_seed(SEED)
    model = getattr(keras.applications, member)(
        input_shape=(side, side, 3), weights=None, classes=10, **extra
    )
    rng = np.random.default_rng(SEED)
    x = rng.uniform(low, high, (60, side, side, 3)).astype("float32")
    name = model.inputs[0].name
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    save_samples(out / "calibration.npz", {name: x[:40]})
    save_samples(out / "eval.npz", {name: x[40:]})
    return out


def run(member: str, folder: Path, variants: str) -> tuple[dict[str, Any], float]:
    """Build ``member`` into ``folder`` and convert it to ``variants``."""
    source = build(member, folder / member)
    started = time.perf_counter()
    out = folder / f"{member}-out"
    try:
        manifest = convert(source / "model.keras", out, variants=variants)
    except ParityError:
        manifest = read_manifest(out)
    return manifest, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; exit 0 when the bar holds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="all", help="comma-separated members, or 'all'")
    parser.add_argument("--variants", default="all", help="variants to build (default all)")
    parser.add_argument("--no-readme", action="store_true", help="do not edit the README")
    parser.add_argument("--json", default=str(ROOT / "benchmarks/results/apps_sweep.json"))
    add_from_json(parser)
    args = parser.parse_args(argv)
    if args.from_json:
        results, names = merged(args.from_json, key="families")
        command = "python benchmarks/apps_sweep.py --from-json " + " ".join(
            str(p) for p in args.from_json
        )
        summary = record(results, names, args.json, not args.no_readme, command)
        return _verdict(summary)
    members = [m for m, *_ in FAMILIES.values()]
    chosen = members if args.family == "all" else args.family.split(",")
    unknown = [m for m in chosen if m not in members]
    if unknown:
        parser.error(f"unknown member(s) {unknown}; expected some of {members}")
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    results: dict[str, tuple[dict[str, Any], float]] = {}
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgeship-apps-") as tmp:
        for member in chosen:
            results[member] = run(member, Path(tmp), ",".join(names))
            print(f"{member}: {results[member][1]:.0f} s", flush=True)
            summary = record(results, names, args.json, not args.no_readme)  # after each
    return _verdict(summary)


def _verdict(summary: dict[str, Any]) -> int:
    """0 when the bar holds: every fp32 cell within 1e-4 and >= 95% of the cells ok."""
    bar = not summary["fp32_not_ok"] and summary["ok"] >= 0.95 * summary["cells"]
    return 0 if bar else 1


def record(
    results: dict[str, tuple[dict[str, Any], float]],
    names: list[str],
    path: str,
    readme: bool,
    command: str = "nice -n 19 python benchmarks/apps_sweep.py",
) -> dict[str, Any]:
    """Write the results so far (JSON, and the README block when asked); their summary."""
    block, summary = table(results, names)
    print(block, flush=True)
    atomic_write_json(
        Path(path),
        {
            "schema": "edgeship.apps-sweep/1",
            "summary": summary,
            "members": {f: m for f, (m, *_) in FAMILIES.items() if m in results},
            "seconds": {m: round(t, 1) for m, (_, t) in results.items()},
            "families": {m: compact(r["variants"]) for m, (r, _) in results.items()},
        },
    )
    if readme:
        write_readme(block, command, MARKS, "keras.applications: every family, every variant")
    return summary


if __name__ == "__main__":
    sys.exit(main())
