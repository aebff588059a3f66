"""Pick the variant to ship: the fastest one inside the accuracy, latency and size budgets.

Pure functions over the manifest's variant records and the bench results, so the choice is
explainable and unit-testable without any backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edgeship.bench.records import BenchRow
from edgeship.manifest import VariantRecord

MIB = 1024 * 1024


@dataclass(frozen=True)
class Budgets:
    """What the user will accept. Accuracy drop in percentage points; None = no budget.

    A variant whose accuracy was not measured (no labels, or parity did not run) misses an
    accuracy budget: nothing shows that it stays inside it.
    """

    max_accuracy_drop: float | None = 1.0
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    #: A microcontroller board (or "custom" arena/flash budgets): only variants bundled for
    #: TFLite Micro inside it (convert gated their arena and flash) are candidates.
    microcontroller: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One (variant, backend, threads) configuration with everything the choice looks at."""

    variant: str
    backend: str
    threads: int
    p50_ms: float
    p90_ms: float | None
    p99_ms: float | None
    size_bytes: int
    accuracy: float | None
    accuracy_delta: float | None
    runtimes: dict[str, str]
    cold_start_ms: float | None = None
    peak_rss_mb: float | None = None
    #: Tensor arena of a microcontroller variant whose bundle was written (it fit its
    #: budget); None for every other variant.
    arena_bytes: int | None = None


@dataclass(frozen=True)
class Recommendation:
    """The chosen configuration (or None) and the reason, in words."""

    variant: str | None
    backend: str | None
    threads: int | None
    reason: str
    speedup_vs_keras: float | None = None
    speedup_vs_fp32: float | None = None
    size_ratio_vs_fp32: float | None = None
    failed_budgets: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed_budgets"] = list(self.failed_budgets)
        return data


Variants = Sequence[VariantRecord | Mapping[str, Any]]


def ok_records(variants: Variants) -> dict[str, VariantRecord]:
    """The manifest's ``ok`` variants by name (records, or their JSON dicts)."""
    records = (v if isinstance(v, VariantRecord) else VariantRecord.from_dict(v) for v in variants)
    return {r.name: r for r in records if r.ok}


def candidates(variants: Variants, rows: list[BenchRow]) -> list[Candidate]:
    """Join bench rows (batch 1, single-stream) with the manifest's ``ok`` variants, leaving
    out variants flagged by :mod:`edgeship.convert.weights` (never recommended)."""
    by_name = ok_records(variants)
    found = []
    for row in rows:
        variant = by_name.get(str(row.get("variant")))
        latency, cold = row.get("latency_ms"), row.get("cold_ms")
        if variant is None or row.get("error") or not latency or latency.get("p50") is None:
            continue
        if variant.get("flags"):  # quantized nothing, or not smaller than its float source
            continue
        if int(row.get("batch", 1)) != 1 or row.get("scenario", "single-stream") != "single-stream":
            continue
        parity = variant.parity or {}
        found.append(
            Candidate(
                variant=variant.name,
                backend=str(row.get("backend")),
                threads=int(row.get("threads") or 1),
                p50_ms=float(latency["p50"]),
                p90_ms=latency.get("p90"),
                p99_ms=latency.get("p99"),
                size_bytes=int(variant.size_bytes or row.get("size_bytes") or 0),
                accuracy=parity.get("accuracy"),
                accuracy_delta=parity.get("accuracy_delta"),
                runtimes=dict(variant.runtimes),
                cold_start_ms=cold.get("p50") if cold else None,
                peak_rss_mb=row.get("peak_rss_mb"),
                arena_bytes=_bundled_arena(variant),
            )
        )
    return found


def _bundled_arena(variant: VariantRecord) -> int | None:
    mcu = variant.get("mcu") or {}
    return int(mcu["arena_bytes"]) if mcu.get("bundle") and mcu.get("arena_bytes") else None


def budget_misses(candidate: Candidate, budgets: Budgets) -> dict[str, float]:
    """Return ``{budget: amount over}`` for each budget the candidate misses.

    An unmeasured accuracy misses an accuracy budget by ``math.inf``.
    """
    misses: dict[str, float] = {}
    drop = budgets.max_accuracy_drop
    if drop is not None:
        if candidate.accuracy_delta is None:
            misses["accuracy"] = math.inf
        elif -candidate.accuracy_delta > drop:
            misses["accuracy"] = -candidate.accuracy_delta - drop
    if budgets.max_latency_ms is not None and candidate.p50_ms > budgets.max_latency_ms:
        misses["latency"] = candidate.p50_ms - budgets.max_latency_ms
    size_mb = candidate.size_bytes / MIB
    if budgets.max_size_mb is not None and size_mb > budgets.max_size_mb:
        misses["size"] = size_mb - budgets.max_size_mb
    if budgets.microcontroller and candidate.arena_bytes is None:
        misses["board"] = math.inf  # not bundled for a microcontroller inside the budget
    return misses


def recommend(
    variants: Variants,
    rows: list[BenchRow],
    budgets: Budgets,
    keras_p50_ms: float | None = None,
) -> Recommendation:
    """Choose the fastest configuration (lowest p50, then smallest) inside every budget."""
    pool = candidates(variants, rows)
    if not pool:
        return Recommendation(
            None,
            None,
            None,
            "No variant converted and benchmarked successfully; see the convert and bench "
            "tables for the errors.",
            failed_budgets=("conversion",),
        )
    fitting = [c for c in pool if not budget_misses(c, budgets)]
    if not fitting:
        return _explain_none(pool, budgets)
    best = min(fitting, key=lambda c: (c.p50_ms, c.size_bytes))
    fp32 = _fastest(pool, best.variant.split("-")[0] + "-fp32")
    vs_keras = keras_p50_ms / best.p50_ms if keras_p50_ms and best.p50_ms > 0 else None
    vs_fp32 = fp32.p50_ms / best.p50_ms if fp32 and best.p50_ms > 0 else None
    size_ratio = fp32.size_bytes / best.size_bytes if fp32 and best.size_bytes else None
    return Recommendation(
        variant=best.variant,
        backend=best.backend,
        threads=best.threads,
        reason=_reason(best, budgets, vs_keras, vs_fp32, size_ratio, len(fitting), len(pool)),
        speedup_vs_keras=vs_keras,
        speedup_vs_fp32=vs_fp32,
        size_ratio_vs_fp32=size_ratio,
    )


def _fastest(pool: list[Candidate], variant: str) -> Candidate | None:
    matching = [c for c in pool if c.variant == variant]
    return min(matching, key=lambda c: c.p50_ms) if matching else None


def _reason(
    best: Candidate,
    budgets: Budgets,
    vs_keras: float | None,
    vs_fp32: float | None,
    size_ratio: float | None,
    fitting: int,
    total: int,
) -> str:
    parts = [
        f"{best.variant} on {best.backend} with {best.threads} thread(s) is the fastest of "
        f"{fitting} configuration(s) inside the budgets (of {total} measured): "
        f"p50 {best.p50_ms:.4g} ms at batch 1"
    ]
    if vs_keras:
        parts.append(f"{vs_keras:.1f}x faster than Keras")
    if vs_fp32 and abs(vs_fp32 - 1.0) > 1e-9:
        fp32 = f"{best.variant.split('-')[0]}-fp32"
        parts.append(
            f"{vs_fp32:.2f}x faster than {fp32}"
            if vs_fp32 > 1
            else f"{1 / vs_fp32:.2f}x slower than {fp32} at batch 1 (chosen for size or budgets)"
        )
    size = f"{best.size_bytes / 1024:.1f} KiB"
    if size_ratio and abs(size_ratio - 1.0) > 1e-9:
        size += f" ({size_ratio:.1f}x smaller than fp32)"
    parts.append(size)
    if best.arena_bytes is not None:
        board = budgets.microcontroller
        parts.append(
            f"tensor arena {best.arena_bytes / 1024:.1f} KiB"
            + (f" inside board budget {board}" if board else "")
            + " (latency host-simulated in TFLite Micro, not the board's)"
        )
    if best.cold_start_ms is not None:
        parts.append(f"cold start {best.cold_start_ms:.0f} ms")
    if best.peak_rss_mb is not None:
        parts.append(f"peak RSS {best.peak_rss_mb:.0f} MiB")
    if best.accuracy is not None:
        delta = f", {best.accuracy_delta:+.2f} pts" if best.accuracy_delta is not None else ""
        drop = budgets.max_accuracy_drop
        budget = f"drop <= {drop:g} pts" if drop is not None else "none"
        parts.append(f"accuracy {100 * best.accuracy:.2f}%{delta} (budget: {budget})")
    runs_on = sorted(name for name, status in best.runtimes.items() if status == "ok")
    if runs_on:
        parts.append("runs on " + ", ".join(runs_on))
    not_on = sorted(name for name, status in best.runtimes.items() if status != "ok")
    if not_on:
        parts.append("does NOT run on " + ", ".join(not_on) + " (see --target-runtime)")
    return "; ".join(parts) + "."


FIXES = {
    "accuracy": (
        "keep the most sensitive layers in float (edgeship convert --auto-keep-float or "
        "--keep-float NAMES), use more calibration samples, or ship an fp16/fp32 variant"
    ),
    "latency": (
        "benchmark with more threads (--threads 1,2,4), use an int8 variant, an accelerator "
        "delegate/provider, or a smaller recipe"
    ),
    "unmeasured": (
        "convert with labelled samples (a dataset with labels, e.g. --dataset digits) so parity "
        "measures accuracy, or drop the accuracy budget"
    ),
    "size": (
        "use tflite-int8, tflite-dynamic or onnx-dynamic (4x smaller weights), or a smaller recipe"
    ),
    "board": (
        "add the tflm-int8 variant and benchmark it (--backend ...,tflm); where convert failed "
        "it on arena or flash, use a bigger board, raise --max-arena-kb/--max-flash-kb, or "
        "shrink the model"
    ),
}


def _explain_none(pool: list[Candidate], budgets: Budgets) -> Recommendation:
    misses = [(c, budget_misses(c, budgets)) for c in pool]
    failed = sorted({name for _, m in misses for name in m})
    units = {"accuracy": "pts", "latency": "ms", "size": "MiB", "board": ""}
    lines = []
    for name in failed:
        # Closest among the configurations that meet every other budget, else among all.
        only_this = [(c, m[name]) for c, m in misses if set(m) == {name}]
        scope = "inside the other budgets"
        if not only_this:
            only_this = [(c, m[name]) for c, m in misses if name in m]
            scope = "overall (it misses other budgets too)"
        closest, over = min(only_this, key=lambda item: item[1])
        miss = (
            f"misses by {over:.3g} {units[name]}"
            if math.isfinite(over)
            else f"is not bundled for TFLite Micro inside board budget {budgets.microcontroller}"
            if name == "board"
            else "has no measured accuracy (parity ran without labels or did not run), so "
            "nothing shows it inside the accuracy budget"
        )
        fix = FIXES[name] if math.isfinite(over) or name == "board" else FIXES["unmeasured"]
        lines.append(
            f"{name}: the closest configuration {scope}, {closest.variant} on {closest.backend} "
            f"with {closest.threads} thread(s), {miss}; to fix: {fix}"
        )
    return Recommendation(
        None,
        None,
        None,
        "No configuration meets every budget. " + " | ".join(lines),
        failed_budgets=tuple(failed),
    )


def pareto_front(pool: list[Candidate]) -> set[tuple[str, str, int]]:
    """Keys of the candidates no other beats on latency, size and accuracy at once."""

    def costs(c: Candidate) -> tuple[float, float, float]:
        return (c.p50_ms, float(c.size_bytes), -(c.accuracy if c.accuracy is not None else 0.0))

    front = set()
    for c in pool:
        mine = costs(c)
        dominated = any(
            all(o <= m for o, m in zip(costs(other), mine, strict=True)) and costs(other) != mine
            for other in pool
        )
        if not dominated:
            front.add((c.variant, c.backend, c.threads))
    return front
