"""`edgeship bench`: measure artifacts on backends, threads, batch sizes and scenarios."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgeship.cli._common import add_command, add_fleet_flags, csv_list, from_args, int_list
from edgeship.cli._discovery import add_discovery_flags, discovery_policy
from edgeship.cli._runtime_flags import add_runtime_flags
from edgeship.errors import BenchError, ConfigError
from edgeship.runtime_flags import parse_key_values, parse_providers
from edgeship.runtime_flags import parse_provider as parse_provider  # re-exported

SUMMARY = "benchmark .tflite/.onnx artifacts: latency percentiles, throughput, memory, accuracy"
EXAMPLES = """\
  edgeship bench runs/m/artifacts/tflite-int8.tflite
  edgeship bench runs/m/artifacts --backend litert,onnxruntime --threads 1,2 --json bench.json
  edgeship bench runs/m/artifacts --backend openvino,litert-compiled --accelerator cpu
  edgeship bench model.onnx --batch 1,8 --eval runs/m/eval.npz --baseline raw \\
      --baseline keras:runs/m/model.keras --md bench.md   # runs/m: edgeship train --out
  edgeship bench model.tflite --scenario server --find-max-qps --latency-bound-ms 5
  edgeship bench model.tflite --cold 5 --pin 0 --min-seconds 2 --runs 200
  edgeship bench model.tflite --scenario offline --batch 1,32 --html bench.html
  edgeship bench model.onnx --provider CUDAExecutionProvider --provider CPUExecutionProvider
  edgeship bench runs/m/artifacts --cluster tcp://10.0.0.2:8786 --device pi5,jetson \\
      --json fleet.json   # devices joined with: edgeship worker --cluster ... --device pi5
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "bench", SUMMARY, EXAMPLES)
    parser.add_argument(
        "artifacts",
        nargs="+",
        metavar="ARTIFACT",
        help=".tflite/.onnx files or directories holding them",
    )
    add_runtime_flags(parser, several=True, threads_default="1")
    parser.add_argument("--batch", default="1", help="batch sizes (samples per query), e.g. 1,8")
    parser.add_argument(
        "--scenario",
        default="single-stream",
        choices=["single-stream", "multi-stream", "server", "offline"],
        help="LoadGen scenario (default single-stream)",
    )
    parser.add_argument("--runs", type=int, default=50, help="minimum timed runs (default 50)")
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="minimum seconds of timed runs (default 1)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="minimum warm-up runs (default 1)")
    parser.add_argument(
        "--warmup-seconds", type=float, default=0.5, help="minimum warm-up seconds (default 0.5)"
    )
    parser.add_argument("--max-runs", type=int, help="cap on timed runs")
    parser.add_argument("--max-seconds", type=float, help="cap on seconds of timed runs")
    parser.add_argument(
        "--eval",
        dest="eval_data",
        metavar="NPZ",
        help="samples .npz: real inputs, and accuracy when it has labels",
    )
    parser.add_argument(
        "--cold",
        type=int,
        default=0,
        metavar="N",
        help="time N fresh processes from start to first result",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="R",
        help="rounds of interleaved measurement per configuration, each with 1/R of the "
        "stopping rule; the spread of their medians is the run's measured drift (default 3)",
    )
    parser.add_argument(
        "--pin", metavar="CPUS", help="pin each run to CPUs, e.g. 0 or 0,1 or 0-3 (Linux)"
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="keras:MODEL|raw",
        help="add Keras model.predict/model(x) rows or raw backend rows (repeatable)",
    )
    parser.add_argument(
        "--target-qps",
        type=float,
        help="server scenario: arrival rate (default: half of one worker's capacity)",
    )
    parser.add_argument(
        "--latency-bound-ms",
        type=float,
        help="server scenario: p99 bound (default: ten times the warm-up median)",
    )
    parser.add_argument(
        "--find-max-qps",
        action="store_true",
        help="server scenario: search the highest QPS whose p99 meets the bound",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run configurations in this process instead of one child each",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds allowed per configuration (default 900)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed of synthetic inputs and arrivals"
    )
    parser.add_argument(
        "--json", metavar="OUT", help="write results (schema edgeship.bench/1); '-' for stdout"
    )
    parser.add_argument("--csv", metavar="OUT", help="write the table as CSV")
    parser.add_argument("--md", metavar="OUT", help="write a Markdown report")
    parser.add_argument(
        "--html", metavar="OUT", help="write a self-contained HTML report with figures"
    )
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no live table on stderr")
    add_fleet_flags(parser, "run every configuration on each of these devices of --cluster")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for --cluster's scheduler (default 10)",
    )
    add_discovery_flags(parser, "measure")
    parser.set_defaults(func=run)


def parse_pin(text: str | None) -> tuple[int, ...] | None:
    """``"0,2-3"`` -> ``(0, 2, 3)``."""
    if not text:
        return None
    cpus: list[int] = []
    try:
        for part in csv_list(text):
            lo, _, hi = part.partition("-")
            cpus += list(range(int(lo), int(hi or lo) + 1))
    except ValueError as exc:
        raise ConfigError(
            f"--pin expects CPU numbers such as '0', '0,1' or '0-3'. Got: {text!r}"
        ) from exc
    return tuple(cpus)


def build_config(args: argparse.Namespace) -> Any:
    """The :class:`BenchConfig` for parsed arguments."""
    from edgeship.bench import BenchConfig
    from edgeship.discovery import expand_artifacts

    baselines = [
        b
        for item in args.baseline
        for b in ([item] if item.startswith("keras:") else csv_list(item))
    ]
    return from_args(
        BenchConfig,
        args,
        artifacts=tuple(expand_artifacts(args.artifacts, discovery_policy(args))),
        backends=tuple(csv_list(args.backend) or ["auto"]),
        threads=tuple(int_list(args.threads, "--threads")),
        batch=tuple(int_list(args.batch, "--batch")),
        min_runs=args.runs,
        warmup_runs=args.warmup,
        baselines=tuple(baselines),
        delegate_options=parse_key_values(args.delegate_option),
        providers=parse_providers(args.provider),
        device=args.accelerator,
        pin=parse_pin(args.pin),
        isolate=not args.in_process,
        timeout_s=args.timeout,
    )


def fleet_target(args: argparse.Namespace) -> Any:
    """The :class:`edgeship.fleet.FleetTarget` of ``--cluster``/``--device``, or None."""
    if not args.cluster and not args.device:
        return None
    if not (args.cluster and args.device):
        raise ConfigError(
            "--cluster and --device go together. Expected e.g. "
            "--cluster tcp://10.0.0.2:8786 --device pi5,jetson."
        )
    if args.in_process:
        raise ConfigError(
            "--in-process cannot go with --cluster: on a device every configuration runs in "
            "its own process. Drop --in-process."
        )
    from edgeship.fleet import FleetTarget

    return FleetTarget(
        args.cluster, tuple(csv_list(args.device)), connect_timeout_s=args.connect_timeout
    )


def run(args: argparse.Namespace) -> int:
    from edgeship.bench import LiveTable, fields, run_sweep, save_results
    from edgeship.bench.report import markdown_table, table_fields, to_csv, to_html, to_markdown
    from edgeship.cli._common import print_json
    from edgeship.errors import ArtifactExistsError
    from edgeship.fileio import atomic_write_text, check_output_file

    config = build_config(args)
    outputs = [out for out in (args.json, args.csv, args.md, args.html) if out and out != "-"]
    if len({Path(out).resolve() for out in outputs}) < len(outputs):
        raise ConfigError(
            f"--json, --csv, --md and --html must name different files. Got: {', '.join(outputs)}"
        )
    for out in outputs:  # checked before the sweep, so no result is lost at the end
        if not args.force and Path(out).exists():
            raise ArtifactExistsError(
                f"{out} already exists. Expected a new path; pass --force to replace it."
            )
        check_output_file(out)
    progress = None if args.quiet else LiveTable(sys.stderr)
    target = fleet_target(args)
    if target is not None:
        from edgeship.fleet import run_fleet

        results = run_fleet(config, target, progress=progress)
    else:
        results = run_sweep(config, progress=progress)
    if args.json == "-":
        print_json(results)
    elif args.json:
        save_results(args.json, results, force=True)
    if args.csv:
        atomic_write_text(args.csv, to_csv(results))
    if args.md:
        atomic_write_text(args.md, to_markdown(results))
    if args.html:
        atomic_write_text(args.html, to_html(results))
    if args.json != "-":
        print(markdown_table(results["results"]))
        for note in fields.notes(table_fields(results["results"])):  # headline columns shown
            print(f"- {note}")
    for warning in results.get("warnings", []):
        print(f"edgeship bench: warning: {warning}", file=sys.stderr)
    failed = [r for r in results["results"] if r.get("error")]
    if failed:
        raise BenchError(
            f"{len(failed)} of {len(results['results'])} configurations failed. Expected all "
            "to run; see the warnings above and the 'error' field of their rows."
        )
    return 0
