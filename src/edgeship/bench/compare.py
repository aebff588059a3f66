"""Compare two results files: deltas per matching configuration, with a noise band.

Rows match on (variant, backend, delegate, threads, batch, scenario, device); with
``base_device``/``new_device`` one device's rows are compared with another's (devices side
by side, from one fleet file or two).

Where both rows have interleaved repeats (:mod:`edgeship.bench.repeats`), p50 is compared as
the fastest repeat's median (min of medians: load only adds time, so it is the estimate a
busy machine disturbs least), and the noise band includes the drift each run measured: the
range of its repeats' medians. The band of latency metrics is ``hypot(s_base, s_new,
d_base, d_new)``, where ``s`` is a run's robust per-inference sigma, ``1.4826 * MAD`` (the
std when the MAD is 0), and ``d`` that drift (0 without repeats). Throughput uses the same
band relative to the median latency. Accuracy, size and memory have no band.

``rel_p50`` and ``rel_min``, latency relative to a kernel timed after every query, are compared
and banded as :mod:`edgeship.bench.reference` says.

``--fail-on`` thresholds are ``metric:value``: a positive value fails when the metric rises
by more than it (latency), a negative value when it falls by more (throughput, accuracy).
``%`` makes it relative; otherwise it is in the metric's unit, with accuracy in percentage
points. A change counts only when it is also outside the noise band.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from edgeship.bench import reference as ref
from edgeship.bench.by_device import configuration, keyed_rows
from edgeship.bench.records import BenchResults, BenchRow, latency_value
from edgeship.bench.reference import RELATIVE
from edgeship.bench.repeats import best_p50, drift_ms
from edgeship.bench.stats import MAD_TO_SIGMA
from edgeship.errors import ConfigError

LATENCY_Q = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}
METRICS = (
    *LATENCY_Q,
    "mean",
    "min",
    "max",
    *RELATIVE,
    "throughput_ips",
    "throughput_sps",
    "accuracy",
    "load_ms",
    "first_ms",
    "peak_rss_mb",
    "size_bytes",
)
_EXPR = re.compile(r"^\s*([a-z0-9_]+)\s*:\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*$")


class ConfigKey(TypedDict):
    """What identifies a configuration across files (:func:`row_key` as a dict)."""

    variant: str
    backend: str
    delegate: str | None
    threads: int | None
    batch: int
    scenario: str
    device: str | None


class MetricDelta(TypedDict):
    """One metric of a matched configuration in both files, and whether it moved."""

    base: float
    new: float
    delta: float
    delta_pct: float | None
    band: float
    beyond_noise: bool


class CompareRow(TypedDict):
    """A configuration found in both files, with its metrics' deltas."""

    key: ConfigKey
    metrics: dict[str, MetricDelta]


class Regression(MetricDelta):
    """A delta that breaks a ``--fail-on`` threshold."""

    key: ConfigKey
    metric: str
    threshold: str


class Unchecked(TypedDict):
    """A ``--fail-on`` metric a matched configuration lacks in either file."""

    key: ConfigKey
    metric: str
    missing_in: list[str]
    message: str


class Unresolved(TypedDict):
    """A ``--fail-on`` threshold inside the noise band: no change of that size could be told
    from the noise these two runs measured, so passing it proves nothing."""

    key: ConfigKey
    metric: str
    threshold: str
    message: str


class Comparison(TypedDict):
    """What :func:`compare` returns (``edgeship compare --json`` prints it)."""

    rows: list[CompareRow]
    regressions: list[Regression]
    unchecked: list[Unchecked]
    unresolved: list[Unresolved]
    only_base: list[ConfigKey]
    only_new: list[ConfigKey]
    base_device: str | None
    new_device: str | None


@dataclass(frozen=True)
class Threshold:
    """One ``--fail-on`` rule: metric, limit and whether the limit is relative (%)."""

    metric: str
    limit: float
    relative: bool

    def describe(self) -> str:
        return f"{self.metric}:{self.limit:+g}{'%' if self.relative else ''}"


def parse_fail_on(text: str | None) -> list[Threshold]:
    """Parse ``"p50:5%,accuracy:-0.5"`` into thresholds; bad items raise ConfigError."""
    out = []
    for item in [p for p in (text or "").split(",") if p.strip()]:
        m = _EXPR.match(item)
        if not m:
            raise ConfigError(
                f"Bad --fail-on item {item.strip()!r}. Expected METRIC:VALUE[%] such as "
                "'p50:5%' or 'accuracy:-0.5'."
            )
        metric, value, pct = m.group(1), float(m.group(2)), bool(m.group(3))
        if metric not in METRICS:
            raise ConfigError(
                f"Unknown metric {metric!r} in --fail-on. Expected one of: {', '.join(METRICS)}."
            )
        if value == 0:
            raise ConfigError(f"--fail-on {metric} needs a non-zero limit. Got: {item.strip()!r}")
        out.append(Threshold(metric, value, pct))
    return out


def metric_value(row: BenchRow, metric: str) -> float | None:
    """The value of ``metric`` in a row (latency metrics from ``latency_ms``)."""
    if metric == "p50" and row.get("repeats"):
        return best_p50(row)
    if metric in RELATIVE:
        return ref.relative_value(row, metric)
    lat: Mapping[str, object] = row.get("latency_ms") or {}
    fields: Mapping[str, object] = row
    latency = metric in (*LATENCY_Q, "mean", "min", "max")
    value = lat.get(metric) if latency else fields.get(metric)
    if not isinstance(value, int | float):
        return None
    if metric == "accuracy":
        return float(value) * 100.0  # percentage points
    return float(value)


def noise_band(base: BenchRow, new: BenchRow, metric: str) -> float:
    """The band within which a change of ``metric`` is noise (0 where there is none)."""
    if metric in LATENCY_Q or metric in ("mean", "min", "max"):
        return math.hypot(spread(base), spread(new), drift_ms(base), drift_ms(new))
    if metric in ("throughput_ips", "throughput_sps"):
        rel = math.hypot(_relative(base), _relative(new))
        return rel * (metric_value(base, metric) or 0.0)
    if metric in RELATIVE:
        return math.hypot(ref.relative_noise(base, metric), ref.relative_noise(new, metric))
    return 0.0


def spread(row: BenchRow) -> float:
    """A run's robust per-inference sigma in ms: ``1.4826 * MAD``, else the std."""
    mad, std = latency_value(row, "mad"), latency_value(row, "std")
    return MAD_TO_SIGMA * float(mad or 0.0) or float(std or 0.0)


def _relative(row: BenchRow) -> float:
    median = float(latency_value(row, "p50") or 0.0)
    return math.hypot(spread(row), drift_ms(row)) / median if median > 0 else 0.0


def compare(
    base: BenchResults,
    new: BenchResults,
    fail_on: list[Threshold] | None = None,
    metrics: tuple[str, ...] = ("p50", "p90", "p99", "throughput_ips", "accuracy"),
    base_device: str | None = None,
    new_device: str | None = None,
) -> Comparison:
    """Deltas of ``new`` against ``base`` per matching row.

    Returns:
        ``{"rows": [...], "regressions": [...], "only_base": [...], "only_new": [...]}``;
        each row has per-metric ``base``, ``new``, ``delta``, ``delta_pct``, ``band`` and
        ``beyond_noise``; each regression names the row, metric, change and threshold.
        ``unchecked`` lists the ``fail_on`` metrics a matched row lacks in either file
        (e.g. accuracy from a bench run without ``--eval``): a gate that could not run.
        ``unresolved`` lists the thresholds that lie inside the noise band: a gate that ran
        but could not have seen a change of its size.
        With ``base_device``/``new_device``, only that device's rows of each file are
        compared (keys then hold no device) and the result names both devices.
    """
    fail_on = fail_on or []
    wanted = tuple(dict.fromkeys([*metrics, *(t.metric for t in fail_on)]))
    base_rows = keyed_rows(base, base_device, "base")
    new_rows = keyed_rows(new, new_device, "new")
    out_rows: list[CompareRow] = []
    regressions: list[Regression] = []
    unresolved: list[Unresolved] = []
    missing: list[tuple[ConfigKey, str, BenchRow, BenchRow]] = []
    for key, b in base_rows.items():
        n = new_rows.get(key)
        if n is None:
            continue
        entry: CompareRow = {"key": _key_dict(key), "metrics": {}}
        for metric in wanted:
            bv, nv = metric_value(b, metric), metric_value(n, metric)
            if (
                bv is None
                or nv is None
                or (metric in RELATIVE and ref.kernel_of(b) != ref.kernel_of(n))
            ):
                continue
            delta = nv - bv
            band = noise_band(b, n, metric)
            entry["metrics"][metric] = {
                "base": bv,
                "new": nv,
                "delta": delta,
                "delta_pct": delta / bv * 100 if bv else None,
                "band": band,
                "beyond_noise": abs(delta) > band,
            }
        for t in fail_on:
            m = entry["metrics"].get(t.metric)
            if m is None:
                missing.append((entry["key"], t.metric, b, n))
            elif _breaks(m, t):
                regressions.append(
                    {"key": entry["key"], "metric": t.metric, "threshold": t.describe(), **m}
                )
            elif _band_covers(m, t):
                unresolved.append(_unresolved(entry["key"], t, m))
        out_rows.append(entry)
    out_rows.sort(key=lambda e: str(e["key"].get("device") or ""))
    gated = {metric for row in out_rows for metric in row["metrics"]}
    unchecked = [
        _unchecked(key, metric, b, n, (base, new))
        for key, metric, b, n in missing
        if metric in RELATIVE or not _recorded_in_neither(metric, b, n) or metric not in gated
    ]
    return {
        "rows": out_rows,
        "regressions": regressions,
        "unchecked": unchecked,
        "unresolved": unresolved,
        "only_base": [_key_dict(k) for k in base_rows if k not in new_rows],
        "only_new": [_key_dict(k) for k in new_rows if k not in base_rows],
        "base_device": base_device,
        "new_device": new_device,
    }


def _recorded_in_neither(metric: str, base: BenchRow, new: BenchRow) -> bool:
    """True when neither file records ``metric`` for this configuration.

    Such a row (a raw baseline's accuracy, say) cannot have changed; the gate holds as long
    as some other configuration carries the metric in both files.
    """
    return metric_value(base, metric) is None and metric_value(new, metric) is None


def _unchecked(
    key: ConfigKey,
    metric: str,
    base: BenchRow,
    new: BenchRow,
    docs: tuple[BenchResults, BenchResults],
) -> Unchecked:
    rows = (("base", base, docs[0]), ("new", new, docs[1]))
    missing = [name for name, row, _ in rows if metric_value(row, metric) is None]
    hint = ref.relative_hint(base, new) if metric in RELATIVE else ""
    why = f"missing in {' and '.join(missing)}" if missing else "not comparable"
    if metric == "accuracy":
        no_eval = [name for name, row, doc in rows if not doc.get("config", {}).get("eval_data")]
        hint = (
            f" (the {' and '.join(no_eval)} run had no eval data: bench with --eval records it)"
            if no_eval
            else " (its run had eval data, but this configuration records no accuracy)"
        )
    return {
        "key": key,
        "metric": metric,
        "missing_in": missing,
        "message": f"{label(key)}: {metric} is {why}{hint}",
    }


def _band_covers(m: MetricDelta, t: Threshold) -> bool:
    """True when a change of exactly the threshold would still be inside the noise band."""
    if m["band"] <= 0:
        return False
    limit = abs(t.limit) * abs(m["base"]) / 100 if t.relative else abs(t.limit)
    return m["band"] >= limit


def _unresolved(key: ConfigKey, t: Threshold, m: MetricDelta) -> Unresolved:
    band = f"{m['band'] / abs(m['base']) * 100:.0f}%" if m["base"] else f"{m['band']:.4g}"
    return {
        "key": key,
        "metric": t.metric,
        "threshold": t.describe(),
        "message": (
            f"{label(key)}: {t.describe()} is inside the noise band ({t.metric} +/- {band}); "
            "the runs were too noisy to see a change of that size. Rerun both on a quieter "
            "machine, with --pin, or with more --repeats."
        ),
    }


def _breaks(m: MetricDelta, t: Threshold) -> bool:
    change = m["delta_pct"] if t.relative else m["delta"]
    if change is None or not m["beyond_noise"]:
        return False
    return change > t.limit if t.limit > 0 else change < t.limit


def _key_dict(key: tuple[Any, ...]) -> ConfigKey:
    names = ("variant", "backend", "delegate", "threads", "batch", "scenario", "device")
    return cast(ConfigKey, dict(zip(names, key, strict=True)))


def label(key: ConfigKey) -> str:
    """Short text for a row key, e.g. ``tflite-int8/litert t2 b1``."""
    text = configuration(key)
    if key.get("device"):
        text += f" @{key['device']}"
    return text


def to_markdown(result: Comparison) -> str:
    """The comparison as a Markdown table plus the regressions."""
    lines = []
    if result.get("base_device") or result.get("new_device"):
        lines += [f"Devices: base {result.get('base_device')}, new {result.get('new_device')}", ""]
    lines += ["| configuration | metric | base | new | delta | delta % | noise band |"]
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for row in result["rows"]:
        for metric, m in row["metrics"].items():
            pct = "–" if m["delta_pct"] is None else f"{m['delta_pct']:+.1f}%"
            mark = " (noise)" if m["band"] > 0 and not m["beyond_noise"] else ""
            lines.append(
                f"| {label(row['key'])} | {metric} | {m['base']:.4g} | {m['new']:.4g} | "
                f"{m['delta']:+.4g} | {pct}{mark} | ±{m['band']:.3g} |"
            )
    if result["regressions"]:
        lines.append("")
        lines.append("Regressions:")
        for r in result["regressions"]:
            lines.append(
                f"- {label(r['key'])}: {r['metric']} {r['base']:.4g} -> {r['new']:.4g} "
                f"breaks {r['threshold']}"
            )
    sides: tuple[tuple[Literal["only_base", "only_new"], str], ...] = (
        ("only_base", "Only in base"),
        ("only_new", "Only in new"),
    )
    for name, title in sides:
        if result[name]:
            lines.append(f"\n{title}: " + ", ".join(label(k) for k in result[name]))
    return "\n".join(lines) + "\n"
