"""Per-call cost of the input checks on ``Engine.predict``'s fast path, side by side.

Two engines on the same model in one process, called alternately (the order flips every
repetition): ``checked`` is the engine as shipped (a sampled input-range check: one counter
per call, a min/max every 64th call; float-to-int8 quantization with a NaN check), and
``unchecked`` the same engine with the range checks switched off and the quantizer the
engine used before the NaN check (``np.clip``, no NaN test). Reported per model: the median
per-call time of each on the calling thread's CPU clock and on the wall clock, and the median
of the paired ratios (checked / unchecked) with its interquartile range.

    python benchmarks/input_checks_overhead.py --models DIR [--reps 21] [--calls 2000]

``DIR`` holds ``fp32.tflite`` and ``int8.tflite`` digits models (8x8x1), e.g. the directory
``python tests/runtime/build_artifacts.py DIR`` writes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeship.runtime import load
from edgeship.runtime.ranges import NEVER


def _old_quantizer(spec) -> Callable[[np.ndarray], np.ndarray] | None:  # type: ignore[no-untyped-def]
    """The fast-path quantizer before the NaN check: rint, add, np.clip, cast."""
    if spec.quantization is None or spec.np_dtype.kind not in "iu":
        return None
    scale, zero_point = np.float32(spec.quantization[0]), np.float32(spec.quantization[1])
    info = np.iinfo(spec.np_dtype)
    lo, hi, dtype = info.min, info.max, spec.np_dtype
    rint, clip = np.rint, np.clip

    def quantize(x: np.ndarray) -> np.ndarray:
        q = rint(x / scale)
        q += zero_point
        return clip(q, lo, hi, out=q).astype(dtype)

    return quantize


def _time(engine, x: np.ndarray, calls: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    predict = engine.predict
    c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    for _ in range(calls):
        predict(x)
    return (time.thread_time_ns() - c0) / calls / 1e3, (time.perf_counter_ns() - w0) / calls / 1e3


def measure(path: Path, reps: int, calls: int) -> dict[str, float]:
    """Median µs per call of both engines on ``path`` and their paired ratio."""
    x = np.random.default_rng(0).random((1, 8, 8, 1), dtype=np.float32)
    checked = load(path, verify=False, threads=1)
    unchecked = load(path, verify=False, threads=1)
    unchecked._sample = lambda *a: None  # type: ignore[method-assign]
    unchecked._tick = NEVER
    if unchecked._fast_quant is not None:
        unchecked._fast_quant = _old_quantizer(unchecked.inputs[0])
    np.testing.assert_array_equal(checked.predict(x), unchecked.predict(x))
    _time(checked, x, calls)
    _time(unchecked, x, calls)  # warm up both
    rows: dict[str, list[tuple[float, float]]] = {"checked": [], "unchecked": []}
    for rep in range(reps):
        order = ("checked", "unchecked") if rep % 2 == 0 else ("unchecked", "checked")
        for name in order:
            rows[name].append(_time(checked if name == "checked" else unchecked, x, calls))
    ratios = sorted(c[0] / u[0] for c, u in zip(rows["checked"], rows["unchecked"], strict=True))
    q = statistics.quantiles(ratios, n=4)
    checked.close()
    unchecked.close()
    return {
        "checked_cpu_us": statistics.median(r[0] for r in rows["checked"]),
        "unchecked_cpu_us": statistics.median(r[0] for r in rows["unchecked"]),
        "checked_wall_us": statistics.median(r[1] for r in rows["checked"]),
        "unchecked_wall_us": statistics.median(r[1] for r in rows["unchecked"]),
        "ratio_cpu": statistics.median(ratios),
        "ratio_q1": q[0],
        "ratio_q3": q[2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print("| model | unchecked CPU µs | checked CPU µs | ratio (CPU, IQR) | unchecked wall µs "
          "| checked wall µs |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|")
    for name in ("fp32.tflite", "int8.tflite"):
        r = measure(args.models / name, args.reps, args.calls)
        print(
            f"| {name} | {r['unchecked_cpu_us']:.2f} | {r['checked_cpu_us']:.2f} | "
            f"{r['ratio_cpu']:.3f} ({r['ratio_q1']:.2f}–{r['ratio_q3']:.2f}) | "
            f"{r['unchecked_wall_us']:.2f} | {r['checked_wall_us']:.2f} |"
        )


if __name__ == "__main__":
    main()
