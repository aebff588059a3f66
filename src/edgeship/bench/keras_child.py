"""Keras baseline: ``model.predict(x)`` and ``model(x)`` timed like any other configuration.

This module imports TensorFlow and Keras inside :func:`run_keras`, and only ever runs in a
child process started by :mod:`edgeship.bench.isolate`; nothing in the bench package imports
it, so the benchmark itself never loads TensorFlow.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from edgeship.bench import inputs as inp
from edgeship.bench.machine import current_rss_mb, peak_rss_mb
from edgeship.bench.records import BenchRow
from edgeship.bench.single import add_measurement, base_row, pin_cpus, run_scenario
from edgeship.bench.spec import RunSpec
from edgeship.versions import package_version


@dataclasses.dataclass(frozen=True)
class _KSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str


def _row(spec: RunSpec, mode: str) -> BenchRow:
    row = base_row(spec)
    row.update(
        {
            "variant": f"keras:{mode}",
            "kind": "keras",
            "format": "keras",
            "backend": "keras",
            "backend_version": package_version("keras"),
            "delegate": None,
        }
    )
    return row


def run_keras(spec: RunSpec) -> list[BenchRow]:
    """Load the Keras model in this process and time ``predict`` and ``__call__``."""
    pin_cpus(spec.pin)
    rss0 = current_rss_mb()
    t0 = time.perf_counter_ns()
    import tensorflow as tf

    if spec.threads:
        tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    model = keras.saving.load_model(spec.artifact, compile=False)
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    rss_load = current_rss_mb() - rss0
    specs = [
        _KSpec(str(getattr(t, "name", f"input_{i}")), tuple(t.shape), str(np.dtype(t.dtype)))
        for i, t in enumerate(model.inputs)
    ]
    labels = None
    if spec.eval_data:
        from edgeship.samples import load_samples

        samples = load_samples(spec.eval_data)
        data = inp.from_samples(specs, samples.inputs)
        labels = samples.labels
    else:
        data = inp.synthetic(specs, spec.batch * inp.POOL_SIZE, spec.seed)
    pool = [_as_keras(b, len(specs)) for b in inp.query_pool(data, spec.batch)]
    calls = {
        "predict": lambda x: model.predict(x, verbose=0, batch_size=spec.batch),
        "call": lambda x: model(x, training=False),
    }
    rows = []
    for mode, fn in calls.items():
        row = _row(spec, mode)
        row["load_ms"] = load_ms
        row["rss_load_mb"] = rss_load
        t0 = time.perf_counter_ns()
        fn(pool[0])
        row["first_ms"] = (time.perf_counter_ns() - t0) / 1e6

        def run(i: int, fn: Any = fn) -> object:
            return fn(pool[i % len(pool)])

        add_measurement(row, run_scenario(spec, run))
        row["peak_rss_mb"] = peak_rss_mb()
        rows.append(row)
    accuracy = None
    if labels is not None and spec.accuracy:  # one model: both call styles score the same
        scores = model.predict(_as_keras(data, len(specs)), verbose=0, batch_size=64)
        accuracy = inp.top1_accuracy(np.asarray(scores), labels)
    for row in rows:
        row["accuracy"] = accuracy
    return rows


def _as_keras(batch: dict[str, np.ndarray], count: int) -> Any:
    arrays = list(batch.values())
    return arrays[0] if count == 1 else arrays
