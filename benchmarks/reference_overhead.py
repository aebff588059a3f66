"""Does timing the reference kernel after every query change the query's own latency, and
what does it cost in run time?

Runs the single-stream loop on one artifact in alternating blocks, with and without the
reference kernel (:mod:`edgeship.bench.reference`), in one process, so both see the same
moments of the machine; prints each mode's median over blocks of the query p50 and min, and
the wall time per timed query.

    python benchmarks/reference_overhead.py runs/demo/artifacts/tflite-int8.tflite [--blocks 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

from edgeship.bench import inputs as inp
from edgeship.bench.reference import make_kernel
from edgeship.bench.scenarios import stream
from edgeship.bench.timer import StoppingRule
from edgeship.runtime import load
from edgeship.runtime.ranges import InputRangeWarning


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per mode (default 10)")
    parser.add_argument("--seconds", type=float, default=0.3, help="timed seconds per block")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", InputRangeWarning)  # random inputs time the model
    engine = load(args.artifact, threads=1)
    data = inp.synthetic(list(engine.inputs), inp.POOL_SIZE, 0)
    pool = [inp.as_model_input(b) for b in inp.query_pool(data, 1)]
    rule = StoppingRule(min_runs=50, min_seconds=args.seconds, warmup_runs=5, warmup_seconds=0.0)
    kernel = make_kernel()
    stats: dict[str, list[tuple[float, float, float]]] = {"without": [], "with": []}
    for _ in range(args.blocks):
        for mode in stats:
            t0 = time.perf_counter()
            reference = kernel if mode == "with" else None
            out = stream(
                lambda i: engine.predict(pool[i % len(pool)]), 1, rule, reference=reference
            )
            wall = time.perf_counter() - t0
            lat = out["latency_ms"]
            stats[mode].append((lat["p50"] * 1e3, lat["min"] * 1e3, wall / lat["n"] * 1e6))
    print("| mode | query p50 µs | query min µs | wall µs per query |")
    print("|---|---:|---:|---:|")
    for mode, rows in stats.items():
        p50, low, wall = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"| {mode} reference | {p50:.1f} | {low:.1f} | {wall:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
