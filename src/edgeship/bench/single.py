"""Run one configuration in this process: load, first inference, scenario, accuracy, memory.

Used inside the isolated child process (see :mod:`edgeship.bench.isolate`) and, with
isolation off, directly.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from edgeship.bench import inputs as inp
from edgeship.bench import scenarios as sc
from edgeship.bench.machine import current_rss_mb, peak_rss_mb
from edgeship.bench.records import AcceleratorInfo, BenchRow, Measurement
from edgeship.bench.reference import make_kernel
from edgeship.bench.spec import RunSpec, artifact_format
from edgeship.bench.stats import is_noisy
from edgeship.errors import ConfigError
from edgeship.fileio import sha256_file
from edgeship.manifest import variant_name
from edgeship.runtime.ranges import InputRangeWarning

ACCURACY_CHUNK = 32


def base_row(spec: RunSpec) -> BenchRow:
    """The identifying fields of a result row, before anything runs."""
    path = Path(spec.artifact)
    sha256 = sha256_file(path) if path.is_file() else None
    variant = variant_name(spec.artifact, sha256) if spec.kind != "keras" else "keras"
    return {
        "artifact": str(path),
        "sha256": sha256,
        "variant": {"raw": f"raw:{variant}", "keras": "keras"}.get(spec.kind, variant),
        "kind": spec.kind,
        "format": artifact_format(spec.artifact) if spec.kind != "keras" else "keras",
        "backend": spec.backend,
        "backend_version": None,
        "delegate": spec.delegate_label,
        "threads": spec.threads,
        "batch": spec.batch,
        "scenario": spec.scenario,
        "size_bytes": path.stat().st_size if path.is_file() else None,
        "stopping_rule": spec.rule.to_dict(),
        "pin": list(spec.pin) if spec.pin else None,
        "error": None,
    }


def pin_cpus(cpus: tuple[int, ...] | None) -> None:
    """Pin this process to ``cpus`` with ``os.sched_setaffinity`` (Linux)."""
    if not cpus:
        return
    setter = getattr(os, "sched_setaffinity", None)
    if setter is None:
        raise ConfigError("--pin needs os.sched_setaffinity, which this OS lacks (Linux only).")
    try:
        setter(0, set(cpus))
    except OSError as exc:
        raise ConfigError(
            f"Cannot pin to CPUs {list(cpus)}: {exc}. Expected CPUs this machine has."
        ) from exc


Loaded = tuple[Any, Callable[[Any], Any], Callable[[inp.Batch], Any], list[Any]]


def _load(spec: RunSpec, verify: bool | None) -> Loaded:
    """Open the model; return (handle, predict, prepare(batch) -> predict's input, specs).

    Queries are prepared once, before timing, so a timed run is one bare ``predict`` call.
    """
    if spec.kind == "raw":
        from edgeship.bench.baselines import open_raw, to_stored

        raw = open_raw(spec.artifact, spec.backend, spec.threads, spec.providers)
        return raw, raw.predict, _same, [_Stored(s, to_stored) for s in raw.inputs]
    from edgeship.runtime import load

    engine = load(
        spec.artifact,
        backend=spec.backend,
        threads=spec.threads,
        delegate=spec.delegate,
        delegate_options=spec.delegate_options or None,
        providers=list(spec.providers) if spec.providers else None,
        verify=verify,
        device=spec.device,
    )

    return engine, engine.predict, inp.as_model_input, list(engine.inputs)


def _same(batch: inp.Batch) -> inp.Batch:
    return batch


class _Stored:
    """Wraps a raw input spec with the cast to its stored dtype."""

    def __init__(self, spec: Any, cast: Callable[[Any, np.ndarray], np.ndarray]) -> None:
        self.spec, self.cast = spec, cast
        self.name, self.shape, self.dtype = spec.name, spec.shape, spec.dtype

    def __call__(self, arr: np.ndarray) -> np.ndarray:
        return self.cast(self.spec, arr)


def _data(spec: RunSpec, specs: list[Any]) -> tuple[inp.Batch, np.ndarray | None]:
    raw = spec.kind == "raw"
    if spec.eval_data:
        from edgeship.samples import load_samples

        samples = load_samples(spec.eval_data)
        data = inp.from_samples(specs, samples.inputs)
        labels = samples.labels
    else:
        data = inp.synthetic(specs, max(spec.batch * inp.POOL_SIZE, 1), spec.seed, quantized=raw)
        labels = None
    if raw:
        data = {s.name: s(data[s.name]) for s in specs}
    return data, labels


def run_spec(spec: RunSpec, verify: bool | None = None) -> BenchRow:
    """Run one edgeship or raw configuration here; returns its result row.

    Args:
        spec: the configuration.
        verify: passed to ``edgeship.runtime.load``. The isolated child passes False: it
            is itself the sandbox, and a validation subprocess would inflate ``load_ms``.

    Errors are not caught: the caller (the isolated child) records them in the row.
    """
    if spec.kind == "keras":
        raise ConfigError("Keras baselines run only in their own process (keras_child).")
    row = base_row(spec)
    pin_cpus(spec.pin)
    rss0 = current_rss_mb()
    t0 = time.perf_counter_ns()
    handle, predict, prepare, specs = _load(spec, verify)
    row["load_ms"] = (time.perf_counter_ns() - t0) / 1e6
    row["rss_load_mb"] = current_rss_mb() - rss0
    with warnings.catch_warnings():
        if not spec.eval_data:  # random data times the model; its range says nothing
            warnings.simplefilter("ignore", InputRangeWarning)
        try:
            row["backend"] = getattr(handle, "backend", spec.backend)
            row["backend_version"] = getattr(handle, "backend_version", None)
            data, labels = _data(spec, specs)
            pool = [prepare(b) for b in inp.query_pool(data, spec.batch)]
            t0 = time.perf_counter_ns()
            predict(pool[0])
            row["first_ms"] = (time.perf_counter_ns() - t0) / 1e6

            def run(i: int) -> object:
                return predict(pool[i % len(pool)])

            add_measurement(row, run_scenario(spec, run))
            row["accuracy"] = None
            if spec.accuracy and spec.kind == "edgeship" and labels is not None:
                row["accuracy"] = _accuracy(lambda b: predict(prepare(b)), data, labels)
            row["peak_rss_mb"] = peak_rss_mb()
            # After the measurements: ONNX Runtime's placement comes from a second,
            # profiled session.
            row.update(accelerator_info(handle))
        finally:
            close = getattr(handle, "close", None)
            if close is not None:
                close()
    return row


def accelerator_info(handle: Any) -> AcceleratorInfo:
    """Execution providers that actually started, and where the model's ops ran
    (``Engine.op_placement``: delegated/CPU op counts for TFLite, nodes per provider for ONNX
    Runtime), where the backend reports it; and whether the latency is host-simulated (a
    microcontroller interpreter run on this host) with its tensor arena."""
    session = getattr(handle, "_session", handle)
    providers = getattr(handle, "providers", None) or getattr(session, "providers", None)
    placement = getattr(handle, "op_placement", None)
    arena = getattr(session, "arena_bytes", None)
    return {
        "providers_active": list(providers) if providers else None,
        "op_placement": placement() if callable(placement) else None,
        "simulated": "host-simulated" if getattr(session, "host_simulated", False) else None,
        "arena_bytes": int(arena) if arena is not None else None,
    }


def add_measurement(row: BenchRow, measurement: Measurement) -> None:
    """Merge a scenario's measurement into ``row`` (its keys are a subset of the row's).

    The cast only widens: a measured ``latency_ms`` is never None, a row's may be.
    """
    row.update(cast(BenchRow, measurement))


def run_scenario(spec: RunSpec, run: sc.RunQuery) -> Measurement:
    """Measure ``run`` under the spec's scenario; adds ``headline`` and ``noisy``."""
    scenario = sc.Scenario.parse(spec.scenario)
    if scenario is sc.Scenario.SERVER:
        qps, bound, warm = sc.server_defaults(run, spec.rule)
        qps = spec.target_qps or qps
        bound = spec.latency_bound_ms or bound
        if spec.find_max_qps:
            upper = (spec.target_qps or qps / sc.DEFAULT_SERVER_LOAD) * 1.2
            out = sc.find_max_qps(run, spec.batch, spec.rule, bound, upper, seed=spec.seed)
        else:
            out = sc.server(run, spec.batch, spec.rule, qps, bound, seed=spec.seed)
        out["warmup_runs"] = len(warm)
    else:
        out = sc.stream(run, spec.batch, spec.rule, reference=make_kernel())
    key = sc.HEADLINE[scenario]
    value = out.get(key) if key == "throughput_sps" else out["latency_ms"][key]
    out["headline"] = {"metric": key, "value": value}
    out["noisy"] = is_noisy(out["latency_ms"])
    return out


def _accuracy(
    predict: Callable[[inp.Batch], Any], data: inp.Batch, labels: np.ndarray
) -> float | None:
    count = len(labels)
    parts = []
    for start in range(0, count, ACCURACY_CHUNK):
        chunk = {k: v[start : start + ACCURACY_CHUNK] for k, v in data.items()}
        out = predict(chunk)
        if isinstance(out, dict):
            if len(out) != 1:
                return None
            out = next(iter(out.values()))
        if isinstance(out, list):
            out = out[0]
        parts.append(np.asarray(out))
    return inp.top1_accuracy(np.concatenate(parts), labels)
