"""``edgeship pipeline``: train -> convert -> verify -> bench -> report -> recommendation."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from edgeship.cli._common import add_command, add_fleet_flags, add_unsafe_flag, print_json
from edgeship.cli._runtime_flags import add_accelerator_flag, add_runtime_flags
from edgeship.train.backends import BACKEND_NAMES

EXAMPLES = """\
  edgeship pipeline --out runs/demo                       # digits, mnist-cnn, every variant
  edgeship pipeline --recipe lenet5 --epochs 10 --max-latency-ms 0.05 --out runs/lenet
  edgeship pipeline --model my.keras --dataset npz:data.npz \\
      --variants tflite-int8,onnx-int8 --out runs/mine
  edgeship pipeline --train-backend jax --out runs/jax      # train on JAX, convert on TF
  edgeship pipeline --config pipeline.toml --dry-run
  edgeship pipeline --out runs/demo --resume              # reuse steps whose inputs are unchanged
  edgeship pipeline --backend openvino --accelerator GPU --out runs/ov   # bench on the GPU
  edgeship pipeline --out runs/fleet --cluster tcp://10.0.0.2:8786 --device pi5,jetson
"""


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "pipeline",
        "Train (or take a model), convert every variant with parity checks, benchmark, and "
        "recommend the variant to ship.",
        EXAMPLES,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--model", help="existing Keras model (.keras, .h5, SavedModel dir); skips training"
    )
    src.add_argument("--recipe", help="training recipe (default mnist-cnn)")
    add_unsafe_flag(p)
    p.add_argument("--dataset", help="dataset (default digits)")
    p.add_argument("--epochs", type=int, help="training epochs (default 15)")
    p.add_argument("--batch-size", type=int, help="training batch size (default 64)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--train-backend",
        help=f"Keras backend that trains: {', '.join(BACKEND_NAMES)} "
        "(default $KERAS_BACKEND, else tensorflow)",
    )
    p.add_argument("--variants", help="comma-separated variants or 'all' (default all)")
    add_runtime_flags(p, several=True, accelerators=False, backend_default=None)
    add_accelerator_flag(p)
    p.add_argument("--backends", dest="backend", help=argparse.SUPPRESS)  # the former spelling
    p.add_argument(
        "--max-accuracy-drop", type=float, help="accuracy budget in points (default 1.0)"
    )
    p.add_argument("--max-latency-ms", type=float, help="p50 latency budget at batch 1")
    p.add_argument("--max-size-mb", type=float, help="artifact size budget")
    p.add_argument(
        "--board",
        help="microcontroller budget preset (e.g. cortex-m4-256k): gates tflm-int8 and "
        "recommends only microcontroller variants that fit",
    )
    p.add_argument("--max-arena-kb", type=float, help="tflm-int8 tensor arena budget in KiB")
    p.add_argument("--max-flash-kb", type=float, help="tflm-int8 model (flash) budget in KiB")
    p.add_argument("--target-runtime", help="device runtime, e.g. tflite-runtime==2.14")
    p.add_argument("--bench-min-seconds", type=float, help="measuring time per configuration")
    p.add_argument(
        "--cold", type=int, help="cold starts (fresh processes) per configuration (default 3)"
    )
    p.add_argument(
        "--bench-repeats",
        type=int,
        help="rounds of interleaved measurement per configuration (default 3)",
    )
    p.add_argument("--no-keras-baseline", action="store_true", help="skip timing the Keras model")
    add_fleet_flags(p, "devices of --cluster to bench on; the pipeline recommends per device")
    p.add_argument(
        "--config",
        help="TOML or YAML file with these settings, or a run's config.json (flags override)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and steps")
    p.add_argument("--resume", action="store_true", help="skip steps whose inputs are unchanged")
    p.add_argument("--force", action="store_true", help="run again into a directory with results")
    p.add_argument("--json", action="store_true", help="print results.json to stdout")
    p.add_argument("--out", help="output directory (default runs/pipeline)")
    p.set_defaults(func=run)


def resolve(args: argparse.Namespace) -> Any:
    """Merge defaults, the config file and the flags into one PipelineConfig."""
    from edgeship.pipeline import PipelineConfig, coerce, load_config_file

    config = PipelineConfig()
    if args.config:
        config = coerce(config, load_config_file(args.config))
    flags = {
        "out": args.out,
        "model": args.model,
        "recipe": args.recipe,
        "dataset": args.dataset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "train_backend": args.train_backend,
        "variants": args.variants,
        "backends": args.backend,
        "threads": args.threads,
        "accelerator": args.accelerator,
        "max_accuracy_drop": args.max_accuracy_drop,
        "max_latency_ms": args.max_latency_ms,
        "max_size_mb": args.max_size_mb,
        "board": args.board,
        "max_arena_kb": args.max_arena_kb,
        "max_flash_kb": args.max_flash_kb,
        "target_runtime": args.target_runtime,
        "bench_min_seconds": args.bench_min_seconds,
        "bench_cold": args.cold,
        "bench_repeats": args.bench_repeats,
        "keras_baseline": False if args.no_keras_baseline else None,
        "unsafe": True if args.unsafe else None,
        "cluster": args.cluster,
        "devices": args.device,
    }
    return coerce(config, {k: v for k, v in flags.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    from edgeship.pipeline import describe_plan, run_pipeline

    config = resolve(args)
    if args.dry_run:
        print_json(describe_plan(config))
        return 0
    if args.json:  # stdout carries only the JSON: progress (e.g. Keras's fit log) goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            results = run_pipeline(config, resume=args.resume, force=args.force)
    else:
        results = run_pipeline(config, resume=args.resume, force=args.force)
    if args.json:
        print_json(results)
        return 0
    rec = results["recommendation"]
    out = Path(config.out)
    at = f" ({config.accelerator})" if config.accelerator else ""
    per_device = results.get("recommendations") or {}
    if per_device:
        for device, choice in per_device.items():
            print(
                f"Recommendation for {device}: ship {choice['variant']} on {choice['backend']}{at} "
                f"with {choice['threads']} thread(s)."
                if choice.get("variant")
                else f"Recommendation for {device}: none — no variant meets every budget."
            )
        ok = all(choice.get("variant") for choice in per_device.values())
    elif rec.get("variant"):
        print(
            f"Recommendation: ship {rec['variant']} on {rec['backend']}{at} "
            f"with {rec['threads']} thread(s)."
        )
    else:
        print("Recommendation: none — no variant meets every budget.")
    print(rec["reason"])
    print(f"Report: {out / 'report.html'}  (also {out / 'report.md'}, {out / 'results.json'})")
    return 0 if (ok if per_device else rec.get("variant")) else 3
