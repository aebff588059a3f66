"""A sweep: artifacts x backends x threads x batch (+ baselines), each in its own process."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TextIO, cast

from edgeship._lazy import is_available
from edgeship.bench.baselines import RAW_BACKENDS
from edgeship.bench.isolate import DEFAULT_TIMEOUT_S, cold_starts, error_row, run_isolated
from edgeship.bench.machine import environment
from edgeship.bench.records import BenchResults, BenchRow, SweepConfigDict, latency_value
from edgeship.bench.repeats import check_repeats, drift_warning, merge, share_of_rule
from edgeship.bench.scenarios import Scenario
from edgeship.bench.spec import FORMAT_BACKENDS, RunOptions, RunSpec, artifact_format
from edgeship.bench.stats import summarize
from edgeship.bench.storage import annotate_overhead, make_results
from edgeship.bench.timer import StoppingRule
from edgeship.errors import ConfigError
from edgeship.runtime.backends import BACKENDS
from edgeship.typecheck import check_fields

Progress = Callable[[int, int, BenchRow], None]

#: Import name of each backend's package, to pick a raw baseline backend for ``auto``.
_RULE = StoppingRule()
_IMPORT_NAMES = {name: BACKENDS[name].import_name for name in RAW_BACKENDS}


@dataclass(frozen=True)
class BenchConfig(RunOptions):
    """A whole sweep. Lists may be given as lists or tuples.

    The :class:`RunOptions` settings (each configuration runs with them), and:

    Attributes:
        artifacts: ``.tflite`` / ``.onnx`` files.
        backends: runtime backends; each artifact runs on those of its format (``auto``: the
            runtime's choice).
        threads: backend thread counts (None: the backend's default).
        batch: samples per query.
        scenario: ``single-stream``, ``multi-stream``, ``server`` or ``offline``.
        min_runs, min_seconds, warmup_runs, warmup_seconds, max_runs, max_seconds: the
            stopping rule (see :class:`edgeship.bench.timer.StoppingRule`).
        baselines: ``raw`` and/or ``keras:MODEL``.
        cold: fresh processes timed from start to first result, per artifact x backend x threads.
        repeats: rounds of interleaved measurement: every configuration runs once per round,
            each time with ``1/repeats`` of the stopping rule, and its repeats merge into one
            row (see :mod:`edgeship.bench.repeats`).
        isolate: one child process per configuration (default); False runs them here.
        timeout_s: per-configuration time limit of a child process.
    """

    artifacts: tuple[str, ...]
    backends: tuple[str, ...] = ("auto",)
    threads: tuple[int | None, ...] = (1,)
    batch: tuple[int, ...] = (1,)
    scenario: str = Scenario.SINGLE_STREAM.value
    # the stopping rule's settings, with its defaults
    min_runs: int = _RULE.min_runs
    min_seconds: float = _RULE.min_seconds
    warmup_runs: int = _RULE.warmup_runs
    warmup_seconds: float = _RULE.warmup_seconds
    max_runs: int | None = _RULE.max_runs
    max_seconds: float | None = _RULE.max_seconds
    baselines: tuple[str, ...] = ()
    cold: int = 0
    repeats: int = 3
    isolate: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in ("artifacts", "backends", "threads", "batch", "baselines", "providers", "pin"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(f"{name} must be a list or tuple. Got the string {value!r}.")
            if not (value is None or isinstance(value, (list, tuple))):
                raise ConfigError(f"{name} must be a list or tuple. Got: {value!r}.")
            if value is not None:
                object.__setattr__(
                    self, name, tuple(str(v) if name in ("artifacts",) else v for v in value)
                )
        if isinstance(self.eval_data, os.PathLike):
            object.__setattr__(self, "eval_data", os.fspath(self.eval_data))
        check_fields(self, "Bench setting")
        if not self.artifacts:
            raise ConfigError(
                "Nothing to benchmark: artifacts is empty. Expected .tflite or .onnx files."
            )
        if not self.backends or not self.threads or not self.batch:
            raise ConfigError("backends, threads and batch must each hold at least one value.")
        for path in self.artifacts:
            artifact_format(path)
        Scenario.parse(self.scenario)
        for b in self.baselines:
            if b != "raw" and not b.startswith("keras:"):
                raise ConfigError(f"Unknown baseline {b!r}. Expected 'raw' or 'keras:MODEL_PATH'.")
        if self.cold < 0:
            raise ConfigError(f"cold must be >= 0. Got: {self.cold}")
        check_repeats(self.repeats)
        self._check_numbers()
        self.rule()  # validates the stopping rule

    def _check_numbers(self) -> None:
        """Checks RunSpec cannot make (the per-configuration ones run in :func:`plan`)."""
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0. Got: {self.timeout_s}")

    def rule(self) -> StoppingRule:
        """The stopping rule of every configuration."""
        settings = {f.name: getattr(self, f.name) for f in fields(StoppingRule)}
        return StoppingRule(**settings)

    def to_dict(self) -> SweepConfigDict:
        """JSON-ready settings."""
        data = {f.name: _plain(getattr(self, f.name)) for f in self.own_fields_first()}
        return cast(SweepConfigDict, data)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _raw_backend(backend: str, fmt: str) -> str | None:
    if backend != "auto":
        return backend if backend in _IMPORT_NAMES else None
    for name in FORMAT_BACKENDS[fmt]:
        if name in _IMPORT_NAMES and is_available(_IMPORT_NAMES[name]):
            return name
    return None


def plan(config: BenchConfig) -> tuple[list[RunSpec], list[BenchRow]]:
    """Expand ``config`` into run specs; also return rows for combinations that cannot run."""
    options = config.run_options()
    accelerated = ("delegate", "delegate_options", "providers", "device")  # edgeship rows only
    accelerators = {name: options.pop(name) for name in accelerated}
    rule = share_of_rule(config.rule(), config.repeats)
    base = RunSpec("edgeship", config.artifacts[0], scenario=config.scenario, rule=rule, **options)
    specs: list[RunSpec] = []
    skipped: list[BenchRow] = []
    raw = "raw" in config.baselines
    for artifact in config.artifacts:
        fmt = artifact_format(artifact)
        backends = [b for b in config.backends if b == "auto" or b in FORMAT_BACKENDS[fmt]]
        if not backends:
            spec = replace(base, artifact=artifact, backend=config.backends[0])
            message = (
                f"none of the backends {list(config.backends)} runs .{fmt} files; "
                f"add one of {list(FORMAT_BACKENDS[fmt])}"
            )
            skipped.append(error_row(spec.to_dict(), message))
            continue
        for backend, threads, batch in itertools.product(backends, config.threads, config.batch):
            run = replace(base, artifact=artifact, backend=backend, threads=threads, batch=batch)
            specs.append(replace(run, **accelerators))
            raw_backend = _raw_backend(backend, fmt) if raw else None
            if raw_backend:
                specs.append(
                    replace(run, kind="raw", backend=raw_backend, providers=config.providers)
                )
    for baseline in config.baselines:
        if baseline.startswith("keras:"):
            model = baseline.split(":", 1)[1]
            for threads, batch in itertools.product(config.threads, config.batch):
                specs.append(
                    replace(
                        base,
                        kind="keras",
                        rule=config.rule(),  # measured once: see run_sweep
                        artifact=model,
                        backend="keras",
                        threads=threads,
                        batch=batch,
                    )
                )
    return specs, skipped


def run_one(
    spec: RunSpec, isolate: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[BenchRow]:
    """Run one spec: in a child process (always for Keras), or here with ``isolate=False``."""
    if isolate or spec.kind == "keras":
        return run_isolated(spec, timeout_s)
    from edgeship.bench.single import run_spec

    try:
        row = run_spec(spec)
    except Exception as exc:
        row = error_row(spec.to_dict(), f"{type(exc).__name__}: {exc}")
    row["isolated"] = False
    return [row]


def cold_count(config: BenchConfig, spec: RunSpec) -> int:
    """Cold starts to time for ``spec``: ``config.cold`` on edgeship rows of the first batch."""
    if spec.kind == "edgeship" and spec.batch == config.batch[0]:
        return config.cold
    return 0


def run_configuration(
    spec: RunSpec, isolate: bool, timeout_s: float, cold: int = 0
) -> list[BenchRow]:
    """Measure one configuration (plus ``cold`` cold starts); returns its rows."""
    new_rows = run_one(spec, isolate, timeout_s)
    if cold:
        starts = cold_starts(spec, cold, timeout_s)
        for row in new_rows:
            row["cold_ms"] = summarize(starts["ms"]) if starts["ms"] else None
            row["cold_errors"] = starts["errors"]
    return new_rows


def run_sweep(config: BenchConfig, progress: Progress | None = None) -> BenchResults:
    """Run every configuration of ``config``; returns an ``edgeship.bench/1`` document.

    Args:
        config: the sweep.
        progress: called as ``progress(done, total, row)`` after each row; see
            :class:`LiveTable` for a stderr table.

    Returns:
        ``{"schema", "env", "config", "results", "warnings"}``. A configuration that fails
        is a row with ``error`` set; it never stops the sweep.
    """
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a callable(done, total, row). Got: {progress!r}")
    specs, rows = plan(config)
    total = sum(rounds(config, spec) for spec in specs) + len(rows)
    done = 0
    for row in rows:
        done += 1
        if progress:
            progress(done, total, row)
    repeats: list[list[list[BenchRow]]] = [[] for _ in specs]
    for round_index in range(config.repeats):  # interleaved: A B C, A B C, ...
        for spec, runs in zip(specs, repeats, strict=True):
            if round_index >= rounds(config, spec):
                continue
            cold = cold_count(config, spec) if round_index == 0 else 0
            new_rows = run_configuration(spec, config.isolate, config.timeout_s, cold)
            runs.append(new_rows)
            done += 1
            if progress:
                for row in new_rows:
                    progress(min(done, total), total, row)
    for runs in repeats:
        rows.extend(merge_configuration(runs))
    annotate_overhead(rows)
    results = make_results(environment(), rows, config.to_dict())
    results["warnings"] = warnings_for(rows)
    return results


def rounds(config: BenchConfig, spec: RunSpec) -> int:
    """How many repeats ``spec`` gets: ``config.repeats``, or one for a Keras baseline (which
    takes seconds to start and milliseconds per inference, far above the drift repeats catch).
    """
    return 1 if spec.kind == "keras" else config.repeats


def merge_configuration(runs: list[list[BenchRow]]) -> list[BenchRow]:
    """One configuration's rows from its repeats (each repeat returns the same rows in order).

    The first repeat's cold starts stay on the merged rows.
    """
    if len({len(rows) for rows in runs}) > 1:  # a repeat ended unlike the others: its error
        return next((rows for rows in runs if any(r.get("error") for r in rows)), runs[0])
    merged = [merge(list(repeat)) for repeat in zip(*runs, strict=True)]
    for row, first in zip(merged, runs[0], strict=True):
        for key in ("cold_ms", "cold_errors"):
            if key in first:
                row[key] = first[key]  # type: ignore[literal-required]
    return merged


def warnings_for(rows: list[BenchRow]) -> list[str]:
    """Hygiene warnings: failed rows, and rows whose median drifted between repeats."""
    out = []
    for row in rows:
        name = (
            f"{row.get('variant')} on {row.get('backend')} "
            f"(threads {row.get('threads')}, batch {row.get('batch')})"
        )
        if row.get("error"):
            out.append(f"{name} failed: {row['error']}")
            continue
        warning = drift_warning(name, row)
        if warning:
            out.append(warning)
    return out


class LiveTable:
    """A progress callback that prints one table line per finished row on ``stream``."""

    HEADER = (
        f"{'':>9} {'variant':<26} {'backend':<14} {'thr':>3} {'batch':>5} "
        f"{'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'inf/s':>9} {'acc':>6}"
    )

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.printed_header = False

    def __call__(self, done: int, total: int, row: BenchRow) -> None:
        if not self.printed_header:
            print(self.HEADER, file=self.stream)
            self.printed_header = True
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - done) if done else 0.0
        head = f"[{done:>3}/{total:<3}]"
        variant = str(row.get("variant"))
        if row.get("device"):
            variant = f"{row['device']}:{variant}"
        ident = (
            f"{variant[:26]:<26} {str(row.get('backend'))[:14]:<14} "
            f"{_cell(row.get('threads'), 3)} {_cell(row.get('batch'), 5)}"
        )
        if row.get("error"):
            line = f"{head} {ident} FAILED: {str(row['error'])[:80]}"
        else:
            acc = row.get("accuracy")
            line = (
                f"{head} {ident} {_num(latency_value(row, 'p50'))} "
                f"{_num(latency_value(row, 'p90'))} {_num(latency_value(row, 'p99'))} "
                f"{_num(row.get('throughput_ips'))} {('-' if acc is None else f'{acc:.3f}'):>6}"
            )
        print(f"{line}  (eta {eta:.0f} s)", file=self.stream, flush=True)


def _cell(value: Any, width: int) -> str:
    return f"{'-' if value is None else value!s:>{width}}"


def _num(value: Any) -> str:
    if value is None:
        return f"{'-':>9}"
    return f"{value:>9.4g}"
