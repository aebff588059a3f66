"""Interleaved repeats: each configuration measured in several rounds, merged into one row.

A shared machine's load drifts over seconds and minutes, so a configuration measured once,
in one stretch, carries whatever load that stretch had. A sweep with ``repeats=R`` runs every
configuration once per round, round after round (A B C, A B C, ...), each repeat with
``1/R`` of the stopping rule's time and runs, so each configuration sees the machine at R
different moments and all of them share the same moments.

The merged row is the repeat with the median p50 (so its fields stay consistent with one
another), plus :class:`Repeats`: each repeat's p50, their minimum (the least disturbed
estimate: load only ever adds time) and their spread in percent of that minimum. The spread
is the drift measured in this run. The stability warning and compare's noise band use it,
not the per-inference coefficient of variation, which on a microsecond model exceeds any
useful limit on every machine and says nothing about how far the median moves.
"""

from __future__ import annotations

import math
from dataclasses import replace

from edgeship.bench.records import BenchRow, latency_value
from edgeship.bench.reference import RELATIVE, kernel_of
from edgeship.bench.timer import StoppingRule
from edgeship.errors import ConfigError

#: Drift of the median between repeats (percent of the fastest repeat) above which a row is
#: flagged as unstable.
HIGH_DRIFT_PCT = 10.0


def check_repeats(repeats: object) -> int:
    """``repeats`` as a validated int >= 1 (a typed error otherwise)."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(
            f"repeats must be an integer >= 1 (rounds of interleaved measurement). Got: {repeats!r}"
        )
    return repeats


def share_of_rule(rule: StoppingRule, repeats: int) -> StoppingRule:
    """The stopping rule of one repeat: ``1/repeats`` of the minimums and caps.

    Warm-up is not divided: every repeat runs in a fresh process and needs its own.
    """
    if repeats == 1:
        return rule
    return replace(
        rule,
        min_runs=math.ceil(rule.min_runs / repeats),
        min_seconds=rule.min_seconds / repeats,
        max_runs=None if rule.max_runs is None else max(1, math.ceil(rule.max_runs / repeats)),
        max_seconds=None if rule.max_seconds is None else rule.max_seconds / repeats,
    )


def merge(rows: list[BenchRow]) -> BenchRow:
    """One row from the repeats of one configuration (in the order they ran).

    A failed repeat fails the configuration: its row is returned, saying which repeat failed.
    Otherwise the repeat with the median p50 is returned with ``repeats`` and ``noisy`` set.
    """
    if not rows:
        raise ConfigError("merge needs at least one repeat. Got: none.")
    for index, row in enumerate(rows):
        if row.get("error"):
            if len(rows) > 1:
                row = dict(row)  # type: ignore[assignment]
                row["error"] = f"repeat {index + 1} of {len(rows)}: {row['error']}"
            return row
    p50s = [latency_value(row, "p50") for row in rows]
    if len(rows) == 1 or any(p is None for p in p50s):
        return rows[0]
    values = [float(p) for p in p50s if p is not None]
    order = sorted(range(len(rows)), key=lambda i: values[i])
    merged: BenchRow = dict(rows[order[(len(order) - 1) // 2]])  # type: ignore[assignment]
    fastest = values[order[0]]
    spread = (values[order[-1]] - fastest) / fastest * 100.0 if fastest > 0 else 0.0
    merged["repeats"] = {
        "n": len(rows),
        "p50_ms": values,
        "p50_min_ms": fastest,
        "spread_pct": spread,
    }
    for metric in RELATIVE:
        rel = [row.get(metric) for row in rows]
        kernels = {kernel_of(row) for row in rows}
        if len(kernels) == 1 and all(isinstance(v, int | float) for v in rel):
            merged["repeats"][metric] = [float(v) for v in rel if v is not None]
    merged["noisy"] = spread > HIGH_DRIFT_PCT
    return merged


def drift_ms(row: BenchRow) -> float:
    """How far the row's median moved between its repeats, in ms (0 without repeats)."""
    repeats = row.get("repeats")
    if not repeats:
        return 0.0
    return float(max(repeats["p50_ms"]) - min(repeats["p50_ms"]))


def best_p50(row: BenchRow) -> float | None:
    """The least disturbed median: the fastest repeat's p50, else the row's p50."""
    repeats = row.get("repeats")
    if repeats:
        return float(repeats["p50_min_ms"])
    return latency_value(row, "p50")


def drift_warning(name: str, row: BenchRow) -> str | None:
    """A warning when the row's median moved more than :data:`HIGH_DRIFT_PCT` between repeats."""
    repeats = row.get("repeats")
    if not repeats or repeats["spread_pct"] <= HIGH_DRIFT_PCT:
        return None
    p50s = ", ".join(f"{p:.4g}" for p in repeats["p50_ms"])
    return (
        f"{name}: the median moved {repeats['spread_pct']:.0f}% between its "
        f"{repeats['n']} interleaved repeats (p50 ms: {p50s}; limit {HIGH_DRIFT_PCT:.0f}%); "
        "the machine's load changed during the run. Close other programs, use --pin, or "
        "raise --repeats or --min-seconds."
    )
