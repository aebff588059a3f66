"""Cross-check the harness against MLPerf LoadGen on the same engine, in one process.

The same ``edgeship.runtime`` engine answers queries driven by LoadGen's SingleStream
scenario (``mlperf_loadgen``, performance mode) and by edgeship's single-stream loop. The
two alternate (ABBA) for many short rounds, so that a load that comes and goes on a shared
machine hits both runs of a round alike; the median over rounds of the ratio LoadGen /
edgeship of each p50 and p90 is compared. They agree when within 5%. ``--pin`` keeps both,
and LoadGen's threads, on one CPU: there LoadGen's bookkeeping threads share the core with
the model, so it is off by default.

LoadGen times from issuing a query to ``QuerySamplesComplete`` (its own thread hand-off
included); edgeship times ``engine.predict`` alone. A query of 8 MobileNetV2 images (the
model from ``make bench``) takes milliseconds, so LoadGen's ~2 µs per query stays far below
5%. As a second check, LoadGen's own queries are also timed with edgeship's timer: that
compares the two timers on identical queries, free of the machine's drift.

    python benchmarks/loadgen_crosscheck.py runs/bench/mobilenetv2/artifacts/tflite-fp32.tflite
    python benchmarks/loadgen_crosscheck.py model.onnx --rounds 40 --seconds 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 0.05


def loadgen_single_stream(
    engine: Any, pool: list[Any], seconds: float, min_queries: int
) -> dict[str, float]:
    """Run LoadGen SingleStream (performance only); returns p50/p90 in ms from its summary."""
    import mlperf_loadgen as lg

    inner: list[float] = []

    def issue(queries: Any) -> None:
        for q in queries:
            t0 = time.perf_counter_ns()
            engine.predict(pool[q.index % len(pool)])
            inner.append((time.perf_counter_ns() - t0) / 1e6)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0)])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(len(pool), len(pool), lambda s: None, lambda s: None)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.SingleStream
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_query_count = min_queries
    settings.min_duration_ms = int(seconds * 1000)
    settings.single_stream_expected_latency_ns = 1_000_000
    log = lg.LogSettings()
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
        log.log_output.outdir = tmp
        log.log_output.copy_summary_to_stdout = False
        # Write the logs after the test: no logging thread competes with the model for CPU.
        log.log_mode = lg.LoggingMode.EndOfTestOnly
        log.enable_trace = False
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
        summary = (Path(tmp) / "mlperf_log_summary.txt").read_text()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    from edgeship.bench.stats import percentile

    return {
        "p50": _ns(summary, "50.00") / 1e6,
        "p90": _ns(summary, "90.00") / 1e6,
        "queries": float(len(inner)),
        "inner_p50": percentile(inner, 0.5),
        "inner_p90": percentile(inner, 0.9),
    }


def _ns(summary: str, pct: str) -> float:
    value = _field(summary, re.escape(pct) + r" percentile latency \(ns\)\s*:\s*(\d+)")
    if value is None:
        raise RuntimeError(f"LoadGen summary lacks the {pct} percentile; got:\n{summary[:800]}")
    return float(value)


def _field(text: str, pattern: str) -> str | None:
    m = re.search(pattern, text)
    return m.group(1) if m else None


def edgeship_single_stream(
    engine: Any, pool: list[Any], seconds: float, min_queries: int
) -> dict[str, float]:
    """edgeship's single-stream loop on the same engine and inputs."""
    from edgeship.bench.scenarios import stream
    from edgeship.bench.timer import StoppingRule

    rule = StoppingRule(
        min_runs=min_queries, min_seconds=seconds, warmup_runs=1, warmup_seconds=0.2
    )
    out = stream(lambda i: engine.predict(pool[i % len(pool)]), 1, rule)
    return {
        "p50": out["latency_ms"]["p50"],
        "p90": out["latency_ms"]["p90"],
        "queries": out["latency_ms"]["n"],
    }


def crosscheck(
    artifact: str, rounds: int, seconds: float, min_queries: int, threads: int, batch: int = 1
) -> dict[str, Any]:
    """Alternate LoadGen and edgeship ``rounds`` times; compare the medians of p50 and p90."""
    from edgeship.bench import inputs as inp
    from edgeship.runtime import load

    engine = load(artifact, threads=threads)
    data = inp.synthetic(list(engine.inputs), batch * inp.POOL_SIZE, seed=0)
    pool = [inp.as_model_input(b) for b in inp.query_pool(data, batch)]
    runs: dict[str, list[dict[str, float]]] = {"loadgen": [], "edgeship": []}
    harnesses = {"loadgen": loadgen_single_stream, "edgeship": edgeship_single_stream}
    for i in range(rounds):
        # ABBA order, so a load that rises or falls over the run hits both alike.
        for name in ("loadgen", "edgeship") if i % 2 == 0 else ("edgeship", "loadgen"):
            runs[name].append(harnesses[name](engine, pool, seconds, min_queries))
    result: dict[str, Any] = {
        "artifact": artifact,
        "backend": engine.backend,
        "threads": threads,
        "batch": batch,
        "rounds": runs,
        "tolerance": TOLERANCE,
    }
    for key in ("p50", "p90"):
        # Each round's two runs sit side by side in time: the median of their ratios cancels
        # the machine's slow drift, which moves both runs of a round alike.
        ratios = [
            lg[key] / es[key] for lg, es in zip(runs["loadgen"], runs["edgeship"], strict=True)
        ]
        diff = statistics.median(ratios) - 1.0
        result[key] = {
            "loadgen_ms": statistics.median(r[key] for r in runs["loadgen"]),
            "edgeship_ms": statistics.median(r[key] for r in runs["edgeship"]),
            "diff": diff,
            "diff_iqr": _quartiles([r - 1.0 for r in ratios]),
            "agree": abs(diff) <= TOLERANCE,
        }
    result["agree"] = result["p50"]["agree"] and result["p90"]["agree"]
    # Same queries, two timers: LoadGen's issue-to-complete vs perf_counter_ns around predict.
    result["same_queries"] = {
        key: {
            "loadgen_ms": statistics.median(r[key] for r in runs["loadgen"]),
            "edgeship_timer_ms": statistics.median(r[f"inner_{key}"] for r in runs["loadgen"]),
        }
        for key in ("p50", "p90")
    }
    engine.close()
    return result


def _quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], q[2]


def _shown(artifact: str) -> str:
    """The artifact path as a reader would type it: relative to here when it can be."""
    path = Path(artifact).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def markdown(result: dict[str, Any]) -> str:
    pin = f"pinned to CPU {result['pin']}, " if result.get("pin") is not None else ""
    lines = [
        "### LoadGen cross-check",
        "",
        f"`{Path(result['artifact']).name}` on {result['backend']}, {result['threads']} thread(s), "
        f"{result['batch']} image(s) per query, {pin}SingleStream, "
        f"{len(result['rounds']['loadgen'])} alternating (ABBA) rounds "
        f"(`python benchmarks/loadgen_crosscheck.py {_shown(result['artifact'])} "
        f"--batch {result['batch']} --rounds {len(result['rounds']['loadgen'])}`). "
        "Latencies are medians over rounds; the "
        "difference is the median of the per-round ratios LoadGen / edgeship (interquartile "
        "range in brackets):",
        "",
        "| metric | LoadGen ms | edgeship ms | difference | within 5% |",
        "|---|---:|---:|---:|---|",
    ]
    for key in ("p50", "p90"):
        r = result[key]
        low, high = r["diff_iqr"]
        lines.append(
            f"| {key} | {r['loadgen_ms']:.4f} | {r['edgeship_ms']:.4f} | {r['diff'] * 100:+.2f}% "
            f"({low * 100:+.1f}% to {high * 100:+.1f}%) | {'yes' if r['agree'] else 'no'} |"
        )
    same = result["same_queries"]
    lines += [
        "",
        "On the very same LoadGen queries, edgeship's timer (perf_counter_ns around predict) "
        f"gives p50 {same['p50']['edgeship_timer_ms']:.4f} ms and p90 "
        f"{same['p90']['edgeship_timer_ms']:.4f} ms against LoadGen's "
        f"{same['p50']['loadgen_ms']:.4f} / {same['p90']['loadgen_ms']:.4f} ms.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("artifact", help=".tflite or .onnx file (a model of a millisecond or more)")
    parser.add_argument("--rounds", type=int, default=40, help="alternating rounds (default 40)")
    parser.add_argument(
        "--seconds", type=float, default=0.2, help="minimum seconds per run (default 0.2)"
    )
    parser.add_argument(
        "--min-queries", type=int, default=60, help="minimum queries per run (default 60)"
    )
    parser.add_argument("--threads", type=int, default=1, help="backend threads (default 1)")
    parser.add_argument(
        "--batch",
        type=int,
        default=8,
        help="images per query (default 8: a longer query "
        "makes LoadGen's own per-query overhead small next to the model)",
    )
    parser.add_argument(
        "--pin",
        type=int,
        help="run on this CPU only (both harnesses and LoadGen's threads), e.g. 1",
    )
    parser.add_argument("--json", help="write the result as JSON here")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    result = crosscheck(
        args.artifact, args.rounds, args.seconds, args.min_queries, args.threads, args.batch
    )
    result["pin"] = args.pin
    if args.json:
        from edgeship.fileio import atomic_write_json

        atomic_write_json(args.json, result)
    if args.markdown:
        print(markdown(result))
    else:
        print(json.dumps({k: result[k] for k in ("p50", "p90", "agree")}, indent=2))
    for key in ("p50", "p90"):
        r = result[key]
        print(
            f"{key}: LoadGen {r['loadgen_ms']:.4f} ms, edgeship {r['edgeship_ms']:.4f} ms, "
            f"{r['diff'] * 100:+.2f}%",
            file=sys.stderr,
        )
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
