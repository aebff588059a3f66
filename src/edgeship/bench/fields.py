"""The columns of a bench row, defined once: every table (console, Markdown, HTML, the
pipeline report) is drawn from :data:`FIELDS`.

A :class:`Field` says how to read one value from a results row and how to print it; the
keys it reads are typed by :mod:`edgeship.bench.records` (``RowKey``, ``LatencyKey``), so
mypy rejects a column that reads a key no row has, and a test checks every column's key. Fields
marked ``optional`` appear only when some row has a value for them, so a plain single-stream
run keeps a short table while ``--find-max-qps``, ``--cold N``, batched or offline runs show
their headline numbers (max QPS with its p99 bound, cold starts, samples/s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeship.bench.records import BenchRow, LatencyKey, RowKey, latency_value

Row = BenchRow


def placement_text(placement: Mapping[str, int]) -> str:
    """``3/7 delegated (2 partitions)`` for TFLite, ``CPU 13`` or ``CUDA 40, CPU 2`` for ONNX
    Runtime's nodes per execution provider."""
    if "delegated" in placement:
        return (
            f"{placement['delegated']}/{placement['ops']} delegated "
            f"({placement.get('partitions', 0)} partitions)"
        )
    return ", ".join(
        f"{name.removesuffix('ExecutionProvider')} {count}" for name, count in placement.items()
    )


def number(value: Any) -> str:
    """A measurement: 4 significant digits below 1,000, whole numbers with separators above."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def rate(value: Any) -> str:
    """A rate (per second): whole numbers with separators from 100 up."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _latency(key: LatencyKey) -> Callable[[Row], Any]:
    return lambda row: latency_value(row, key)


def _key(key: RowKey) -> Callable[[Row], Any]:
    return lambda row: row.get(key)


def backend_label(row: Row) -> Any:
    """The backend, marked ``(host-simulated)`` where its latency is this host's run of a
    device's kernels (TFLite Micro), never the device's."""
    backend = row.get("backend")
    if backend is None or not row.get("simulated"):
        return backend
    return f"{backend} ({row['simulated']})"


def cold_p50(row: Row) -> Any:
    """Median of the row's cold starts (``--cold N``), in ms; None when none were timed."""
    cold = row.get("cold_ms")
    return cold.get("p50") if cold else None


def samples_per_s(row: Row) -> Any:
    """Samples/s, shown only where it differs in meaning from queries/s: batched or offline."""
    if (row.get("batch") or 1) == 1 and row.get("scenario") != "offline":
        return None
    return row.get("throughput_sps")


def _max_qps(row: Row) -> Any:
    if "max_qps" not in row:
        return None
    return row["max_qps"] if row["max_qps"] is not None else "none"


def _max_qps_text(value: Any) -> str:
    return "none met the bound" if value == "none" else rate(value)


def _bound(row: Row) -> Any:
    bound = row.get("latency_bound_ms")
    if bound is None:
        return None
    return (bound, row.get("meets_bound"))


def _bound_text(value: Any) -> str:
    bound, meets = value
    mark = {True: " met", False: " missed"}.get(meets, "")
    return f"{number(bound)}{mark}"


@dataclass(frozen=True)
class Field:
    """One column of the bench table.

    Attributes:
        key: stable name (used to pick columns, e.g. by the pipeline report).
        header: the column title.
        get: reads the raw value from a results row (None when absent).
        fmt: turns a non-None value into its cell text.
        optional: shown only when at least one row has a value.
        text: a label column (left-aligned), not a number.
    """

    key: str
    header: str
    get: Callable[[Row], Any]
    fmt: Callable[[Any], str] = number
    optional: bool = False
    text: bool = False

    def cell(self, row: Row) -> str:
        """The printed cell of ``row`` (``–`` when the value is absent)."""
        value = self.get(row)
        return "–" if value is None else self.fmt(value)


FIELDS: tuple[Field, ...] = (
    Field("device", "device", _key("device"), str, optional=True, text=True),
    Field("variant", "variant", _key("variant"), str, text=True),
    Field("backend", "backend", backend_label, str, text=True),
    Field("delegate", "delegate", _key("delegate"), str, text=True),
    Field("op_placement", "ops placed", _key("op_placement"), placement_text, text=True),
    Field("threads", "threads", _key("threads"), str, text=True),
    Field("batch", "batch", _key("batch"), str, text=True),
    Field("scenario", "scenario", _key("scenario"), str),
    Field("p50", "p50 ms", _latency("p50")),
    Field("p90", "p90 ms", _latency("p90")),
    Field("p99", "p99 ms", _latency("p99")),
    Field("overhead_vs_raw_us", "vs raw µs", _key("overhead_vs_raw_us"), lambda v: f"{v:+.1f}"),
    Field("cv", "CV", _latency("cv"), lambda v: f"{v:.2f}"),
    Field("rel_min", "rel min", _key("rel_min"), lambda v: f"{v:.3g}", optional=True),
    Field("throughput_ips", "queries/s", _key("throughput_ips"), rate),
    Field("throughput_sps", "samples/s", samples_per_s, rate, optional=True),
    Field("max_qps", "max QPS", _max_qps, _max_qps_text, optional=True),
    Field("latency_bound_ms", "p99 bound ms", _bound, _bound_text, optional=True),
    Field("cold_ms", "cold start ms", cold_p50, optional=True),
    Field("load_ms", "load ms", _key("load_ms")),
    Field("first_ms", "first ms", _key("first_ms")),
    Field("peak_rss_mb", "peak RSS MiB", _key("peak_rss_mb")),
    Field(
        "arena_bytes", "arena KiB", _key("arena_bytes"), lambda v: f"{v / 1024:.1f}", optional=True
    ),
    Field("size_bytes", "size KiB", _key("size_bytes"), lambda v: f"{v / 1024:.1f}"),
    Field("accuracy", "accuracy %", _key("accuracy"), lambda v: f"{v * 100:.2f}"),
)

BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}

#: What each optional headline column means, printed under the tables that show it.
NOTES: dict[str, str] = {
    "throughput_sps": "samples/s: queries/s times the samples per query (batched and offline "
    "runs), the number to compare across batch sizes.",
    "max_qps": "max QPS: the highest Poisson arrival rate whose p99 met the bound "
    "(--find-max-qps); p99 bound ms: the server scenario's p99 bound and whether it was met.",
    "rel_min": "rel min: the fastest query over the fastest run of a fixed reference kernel "
    "timed after every query, a latency in units of this machine's speed at that moment "
    "(what `edgeship compare --fail-on rel_min:5%` gates).",
    "cold_ms": "cold start ms: median time of a fresh process from start to its first result "
    "(--cold N).",
}


def pick(keys: Iterable[str]) -> tuple[Field, ...]:
    """The fields named by ``keys``, in that order."""
    return tuple(BY_KEY[k] for k in keys)


def visible(rows: Sequence[Row], fields: Sequence[Field] = FIELDS) -> tuple[Field, ...]:
    """``fields`` minus the optional ones no row has a value for."""
    return tuple(f for f in fields if not f.optional or any(f.get(r) is not None for r in rows))


def headers(fields: Sequence[Field]) -> list[str]:
    """Column titles."""
    return [f.header for f in fields]


def cells(row: Row, fields: Sequence[Field] = FIELDS) -> list[str]:
    """One row's cells, in ``fields`` order."""
    return [f.cell(row) for f in fields]


def notes(fields: Sequence[Field]) -> list[str]:
    """The explanations of the optional headline columns among ``fields``."""
    return [NOTES[f.key] for f in fields if f.key in NOTES]
