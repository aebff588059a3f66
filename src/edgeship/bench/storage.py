"""Results files, schema ``edgeship.bench/1``: ``env`` plus a list of ``results`` rows.

Every row holds at least ``artifact``, ``sha256``, ``variant``, ``backend``,
``backend_version``, ``delegate``, ``threads``, ``batch``, ``scenario``, ``latency_ms``
(``n``, ``mean``, ``std``, ``min``, ``p50``, ``p90``, ``p95``, ``p99``, ``p999``, ``max``;
plus ``cv`` and ``mad``), ``throughput_ips``, ``load_ms``, ``first_ms``, ``peak_rss_mb``,
``size_bytes``, ``accuracy`` (a fraction, or null) and ``error`` (null when it ran).
Rows may add: ``kind`` (edgeship, raw, keras), ``throughput_sps``, ``rss_load_mb``,
``latency_quantiles_ms`` (101 quantiles, for plots), ``headline``, ``noisy``, ``warmup_runs``,
``cold_ms``, ``providers_active``, ``op_placement`` (where the ops ran: delegated and CPU op
counts for TFLite, nodes per execution provider for ONNX Runtime), ``simulated``
(``"host-simulated"`` for TFLite Micro: the host's latency, not a device's) with
``arena_bytes`` (its tensor arena), ``isolated`` and the
server scenario's ``target_qps``,
``achieved_qps``, ``latency_bound_ms``, ``meets_bound``, ``max_qps`` and ``probes``.
Every key and its type: :class:`edgeship.bench.records.BenchRow` (a test checks what a sweep
writes against it). Files are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from edgeship.bench.records import (
    BenchResults,
    BenchRow,
    EnvBlock,
    SweepConfigDict,
    latency_value,
)
from edgeship.errors import ConfigError
from edgeship.fileio import atomic_write_json, not_a_file, read_json

SCHEMA = "edgeship.bench/1"

# One definition of a results row's fields: every table, file and check is built from these.
#: The artifact a row measured.
FILE_KEYS = ("artifact", "sha256")
#: What identifies a configuration: what ran, on what, how.
CONFIG_KEYS = ("variant", "backend", "backend_version", "delegate", "threads", "batch", "scenario")
#: What a row measured besides the latency summary.
MEASURE_KEYS = ("throughput_ips", "load_ms", "first_ms", "peak_rss_mb", "size_bytes", "accuracy")
#: The latency summary (``latency_ms``), as :func:`edgeship.bench.stats.summarize` makes it.
LATENCY_KEYS = ("n", "mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max")
REQUIRED_ROW_KEYS = (*FILE_KEYS, *CONFIG_KEYS, "latency_ms", *MEASURE_KEYS)
#: The columns of the CSV export: the configuration, its latency, the measures (with the
#: headline numbers of the server scenario and cold starts), the file.
CSV_COLUMNS = (
    *CONFIG_KEYS,
    *LATENCY_KEYS,
    "cv",
    "rel_p50",
    "rel_min",
    MEASURE_KEYS[0],
    "throughput_sps",
    *MEASURE_KEYS[1:],
    "max_qps",
    "latency_bound_ms",
    "meets_bound",
    "cold_p50_ms",
    *FILE_KEYS,
    "error",
)


def make_results(
    env: EnvBlock, rows: list[BenchRow], config: SweepConfigDict | None = None
) -> BenchResults:
    """A results document; rows lacking a required key get it as null."""
    filled = [
        cast(BenchRow, {key: row.get(key) for key in REQUIRED_ROW_KEYS} | row) for row in rows
    ]
    return {"schema": SCHEMA, "env": env, "config": config or {}, "results": filled}


def save_results(
    path: str | os.PathLike[str], results: BenchResults, *, force: bool = True
) -> Path:
    """Write ``results`` to ``path`` atomically after checking its schema."""
    validate(results, str(path))
    return atomic_write_json(path, results, force=force)


def load_results(path: str | os.PathLike[str]) -> BenchResults:
    """Read and validate a results file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"Results file {p} {not_a_file(p)}. Expected a file from 'edgeship bench --json'."
        )
    try:
        data = read_json(p)
    except ValueError as exc:
        raise ConfigError(f"Cannot read {p} as JSON ({exc}). Expected an {SCHEMA} file.") from exc
    validate(data, str(p))
    return data


def validate(results: Any, where: str = "results") -> None:
    """Raise :class:`ConfigError` unless ``results`` follows schema ``edgeship.bench/1``."""
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        got = results.get("schema") if isinstance(results, dict) else type(results).__name__
        raise ConfigError(
            f"{where} is not a bench results document. Expected schema {SCHEMA!r}. Got: {got!r}"
        )
    rows = results.get("results")
    if not isinstance(rows, list):
        raise ConfigError(f"{where}: 'results' must be a list of rows. Got: {type(rows).__name__}")
    for i, row in enumerate(rows):
        missing = [k for k in REQUIRED_ROW_KEYS if k not in row]
        if missing:
            raise ConfigError(
                f"{where}: result row {i} lacks {missing}. "
                f"Expected every key of {list(REQUIRED_ROW_KEYS)}."
            )
        lat = row.get("latency_ms")
        if lat is not None and (miss := [k for k in LATENCY_KEYS if k not in lat]):
            raise ConfigError(f"{where}: result row {i} latency_ms lacks {miss}.")


def merge_results(documents: list[BenchResults]) -> BenchResults:
    """One document holding every row of ``documents`` (the first one's env)."""
    if not documents:
        raise ConfigError("Nothing to merge. Expected at least one results document.")
    rows = [row for doc in documents for row in doc.get("results", [])]
    return {
        "schema": SCHEMA,
        "env": documents[0].get("env", {}),
        "config": documents[0].get("config", {}),
        "results": rows,
    }


def row_key(row: BenchRow) -> tuple[Any, ...]:
    """What identifies a configuration across runs.

    Variant, backend, delegate, threads, batch, scenario and device (None off a fleet).
    """
    return (
        row.get("variant"),
        row.get("backend"),
        row.get("delegate"),
        row.get("threads"),
        row.get("batch"),
        row.get("scenario"),
        row.get("device"),
    )


def annotate_overhead(rows: list[BenchRow]) -> list[BenchRow]:
    """Set ``overhead_vs_raw_us`` (p50 minus its raw twin's p50, in µs) on edgeship rows.

    The raw twin is the ``raw:`` row of the same artifact, backend, threads, batch and
    scenario. Rows are changed in place and returned.
    """
    raw = {
        _twin_key(r): p50
        for r in rows
        if r.get("kind") == "raw"
        and not r.get("error")
        and (p50 := latency_value(r, "p50")) is not None
    }
    for r in rows:
        p50 = latency_value(r, "p50")
        if r.get("kind", "edgeship") != "edgeship" or r.get("error") or p50 is None:
            continue
        base = raw.get(_twin_key(r))
        if base is not None:
            r["overhead_vs_raw_us"] = (p50 - base) * 1000.0
    return rows


def _twin_key(row: BenchRow) -> tuple[Any, ...]:
    return (
        row.get("artifact"),
        row.get("backend"),  # a backend without a raw loop (tflm) has no twin
        row.get("threads"),
        row.get("batch"),
        row.get("scenario"),
        str(row.get("variant")).removeprefix("raw:"),
    )
