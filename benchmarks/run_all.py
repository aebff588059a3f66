"""`make bench`: the digits CNN and MobileNetV2 (alpha 0.35, 96x96) on every convert variant.

For each model: train it once (scikit-learn digits; MobileNetV2's backbone starts from random
weights, as there is no download here, and the digits are resized to 96x96 inside the
model), convert it to every variant, then benchmark every artifact on ai-edge-litert (.tflite)
and onnxruntime (.onnx) at 1 and 2 threads, single-stream, batch 1, each configuration in its
own process, with the Keras (`model.predict`, `model(x)`) and raw-backend baselines. Writes
``runs/bench/<model>/bench.json`` and ``report.html``, and the tables of the "Bench" section
of ``benchmarks/README.md``. Then the LoadGen cross-check runs on the MobileNetV2 fp32 file.

    python benchmarks/run_all.py                     # everything (about 15 minutes on 2 cores)
    python benchmarks/run_all.py --models digits --min-seconds 0.5 --no-readme
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgeship.bench.report import placement_text
from edgeship.convert import VARIANTS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "benchmarks" / "README.md"
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
ALL_VARIANTS = tuple(VARIANTS)
MODELS: dict[str, dict[str, Any]] = {
    "digits": {
        "title": "Digits CNN (mnist-cnn recipe, 8x8x1 input)",
        "train": {"recipe": "mnist-cnn", "dataset": "digits", "epochs": 15},
    },
    "mobilenetv2": {
        "title": "MobileNetV2 alpha 0.35, 96x96 backbone (random init, trained end to end)",
        "train": {
            "recipe": "mobilenetv2",
            "dataset": "digits",
            "epochs": 3,
            "alpha": 0.35,
            "image_size": (96, 96),
        },
    },
}


#: Many short alternating rounds: the load on a shared machine changes from second to second.
LOADGEN_ARGS = ("--rounds", "40", "--seconds", "0.2", "--min-queries", "60")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(name: str, out: Path) -> Path:
    """Train and convert ``name`` once under ``out``; returns the artifacts directory."""
    model_dir, artifacts = out / "model", out / "artifacts"
    if not (model_dir / "model.keras").is_file():
        log(f"{name}: training")
        from edgeship.train import TrainConfig, train

        train(
            TrainConfig(out=str(model_dir), seed=0, verbose=0, force=True, **MODELS[name]["train"])
        )
    if not (artifacts / "manifest.json").is_file():
        log(f"{name}: converting to {len(ALL_VARIANTS)} variants")
        from edgeship.convert import convert
        from edgeship.errors import ParityError

        try:
            convert(
                model_dir / "model.keras",
                artifacts,
                variants=ALL_VARIANTS,
                max_accuracy_drop=100.0,
                force=True,
            )
        except ParityError as exc:  # the manifest records it; files that exist are still measured
            log(f"{name}: some variants failed conversion or parity: {exc.failures}")
    return artifacts


def bench(name: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Benchmark every artifact of ``name``; saves bench.json and report.html."""
    from edgeship.bench import BenchConfig, LiveTable, run_sweep, save_results
    from edgeship.bench.report import write_report

    artifacts = out / "artifacts"
    files = [
        str(artifacts / f)
        for v in ALL_VARIANTS
        for f in (f"{v}.tflite", f"{v}.onnx")
        if (artifacts / f).is_file()
    ]
    log(f"{name}: benchmarking {len(files)} artifacts")
    results = run_sweep(
        BenchConfig(
            artifacts=tuple(files),
            backends=("litert", "onnxruntime"),
            threads=(1, 2),
            batch=(1,),
            min_runs=args.runs,
            min_seconds=args.min_seconds,
            eval_data=str(out / "model" / "eval.npz"),
            baselines=("raw", f"keras:{out / 'model' / 'model.keras'}"),
        ),
        progress=LiveTable(sys.stderr),
    )
    save_results(out / "bench.json", results)
    write_report(results, out / "report.html", title=f"edgeship bench: {MODELS[name]['title']}")
    return results


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


HEADER = (
    "variant",
    "backend",
    "threads",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "inferences/s",
    "raw p50 ms",
    "harness overhead µs",
    "ops placed",
    "load ms",
    "peak RSS MiB",
    "size KiB",
    "accuracy %",
)


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cells(r: dict[str, Any], raw_p50: float | None) -> list[str]:
    lat = r["latency_ms"]
    acc = None if r.get("accuracy") is None else r["accuracy"] * 100
    over = (lat["p50"] - raw_p50) * 1000 if raw_p50 is not None else None
    size = "–" if r.get("kind") == "keras" else f"{r['size_bytes'] / 1024:.1f}"
    return [
        r["variant"],
        f"{r['backend']} {r.get('backend_version') or ''}".strip(),
        str(r["threads"]),
        _f(lat["p50"]),
        _f(lat["p90"]),
        _f(lat["p99"]),
        f"{r['throughput_ips']:,.0f}",
        _f(raw_p50),
        _f(over, 3),
        placement_text(r["op_placement"]) if r.get("op_placement") else "–",
        _f(r.get("load_ms"), 4),
        _f(r.get("peak_rss_mb")),
        size,
        _f(acc),
    ]


def table(results: dict[str, Any]) -> str:
    """Markdown table: Keras rows, then each variant x backend x threads with its raw twin."""
    rows = [r for r in results["results"] if not r.get("error")]
    raw = {
        (r["variant"].removeprefix("raw:"), r["threads"]): r for r in rows if r.get("kind") == "raw"
    }
    lines = [_line(list(HEADER)), "|---|---|" + "---:|" * (len(HEADER) - 2)]
    keras = [r for r in rows if r.get("kind") == "keras"]
    for r in sorted(keras, key=lambda r: (r["variant"], r["threads"])):
        lines.append(_line(_cells(r, None)))
    order = {v: i for i, v in enumerate(ALL_VARIANTS)}
    main_rows = [r for r in rows if r.get("kind") == "edgeship"]
    for r in sorted(main_rows, key=lambda r: (order.get(r["variant"], 99), r["threads"])):
        twin = raw.get((r["variant"], r["threads"]))
        lines.append(_line(_cells(r, twin["latency_ms"]["p50"] if twin else None)))
    failed: dict[str, list[dict[str, Any]]] = {}
    for r in results["results"]:
        if r.get("error"):
            failed.setdefault(str(r.get("variant")).removeprefix("raw:"), []).append(r)
    for variant, group in failed.items():
        first = str(group[0]["error"]).replace(str(Path(group[0]["artifact"]).parent) + "/", "")
        first = first.split(". ")[0][:220]
        where = sorted({f"{r.get('backend')} t{r.get('threads')}" for r in group})
        lines.append(f"\nNot measured: {variant} ({len(group)} rows: {', '.join(where)}): {first}.")
    return "\n".join(lines)


def env_line(results: dict[str, Any]) -> str:
    env = results["env"]
    v = env.get("versions", {})
    return (
        f"Machine: {env.get('cpu')}, {env.get('cores')} logical cores, {env.get('os')}; "
        f"Python {env.get('python')}, numpy {v.get('numpy')}, ai-edge-litert "
        f"{v.get('ai-edge-litert')}, onnxruntime {v.get('onnxruntime')}, keras {v.get('keras')}; "
        f"commit {env.get('git_commit')}; {env.get('time')}."
    )


def update_readme(sections: list[str], crosscheck: str | None) -> None:
    """Replace the text between the bench markers of benchmarks/README.md (create if absent)."""
    body = "\n\n".join(sections) + (f"\n\n{crosscheck}" if crosscheck else "")
    block = f"{BEGIN}\n{body}\n{END}"
    text = README.read_text(encoding="utf-8") if README.is_file() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Bench\n\n" + block + "\n"
    from edgeship.fileio import atomic_write_text

    atomic_write_text(README, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", default="digits,mobilenetv2", help="comma-separated: digits, mobilenetv2"
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench"), help="work directory")
    parser.add_argument("--runs", type=int, default=50, help="minimum timed runs per configuration")
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="minimum seconds per configuration"
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="do not touch benchmarks/README.md"
    )
    parser.add_argument("--no-loadgen", action="store_true", help="skip the LoadGen cross-check")
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="rebuild the README tables from the bench.json files of an earlier run",
    )
    args = parser.parse_args(argv)
    sections = []
    mobilenet_fp32 = None
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; expected one of {list(MODELS)}")
        out = Path(args.out) / name
        if args.tables_only:
            from edgeship.bench import load_results

            results = load_results(out / "bench.json")
        else:
            prepare(name, out)
            results = bench(name, out, args)
        sections.append(f"### {MODELS[name]['title']}\n\n{env_line(results)}\n\n{table(results)}")
        if name == "mobilenetv2":
            mobilenet_fp32 = out / "artifacts" / "tflite-fp32.tflite"
    crosscheck = None
    saved = Path(args.out) / "loadgen_crosscheck.md"
    if args.tables_only and saved.is_file():
        crosscheck = saved.read_text(encoding="utf-8").strip()
    elif not args.no_loadgen and mobilenet_fp32 is not None and mobilenet_fp32.is_file():
        log("LoadGen cross-check")
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "loadgen_crosscheck.py"),
                str(mobilenet_fp32),
                "--markdown",
                *LOADGEN_ARGS,
            ],
            capture_output=True,
            text=True,
        )
        sys.stderr.write(proc.stderr[-2000:])
        crosscheck = proc.stdout.strip() or None
        if crosscheck:
            from edgeship.fileio import atomic_write_text

            atomic_write_text(saved, crosscheck + "\n")
    if not args.no_readme:
        update_readme(sections, crosscheck)
        log(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
