"""Per-model inference statistics in the schema of Triton's statistics extension.

``GET /v2/models/{name}/stats`` (and ``/v2/models/stats`` for every model) returns what
``tritonclient``'s ``get_inference_statistics`` reads, over HTTP and gRPC alike:

* ``inference_stats``: per request, ``success`` / ``fail`` (count and total server time),
  ``queue`` (waiting for the batcher or a free engine), ``compute_input`` (merging inputs into
  one batch), ``compute_infer`` (the interpreter) and ``compute_output`` (splitting the batch
  back). A request that ran in a batch of several is charged the whole batch's compute time,
  as Triton does.
* ``batch_stats``: per model execution, by batch size (rows).
* ``inference_count`` (rows inferred), ``execution_count`` (model executions) and
  ``last_inference`` (milliseconds since the epoch).

All durations are in nanoseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

SCHEMA_KEYS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@dataclass(frozen=True)
class Execution:
    """One model execution: its rows, the requests merged into it and its phases' times.

    Attributes:
        rows: batch size (samples) the model ran on.
        queue_ns: per request merged into the execution, the time it waited.
        input_ns: time spent building the batch (merging inputs).
        infer_ns: interpreter time.
        output_ns: time spent splitting the outputs back per request.
    """

    rows: int
    queue_ns: tuple[int, ...]
    input_ns: int
    infer_ns: int
    output_ns: int


MAX_BATCH_SIZES = 64
"""Distinct batch sizes broken out in ``batch_stats``; executions of further sizes count in
``inference_stats`` only."""


class ModelStats:
    """Thread-safe counters of one loaded model.

    The counters are flat lists of integers under one lock (``[count, ns]`` per key of
    :data:`SCHEMA_KEYS`): recording a request is a handful of integer adds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inference = [0] * (2 * len(SCHEMA_KEYS))  # count, ns per SCHEMA_KEYS entry
        self._batches: dict[int, list[int]] = {}  # rows -> [count, input, infer, output ns]
        self.inference_count = 0
        self.execution_count = 0
        self.last_inference_ms = 0

    def record_request(self, ok: bool, ns: int) -> None:
        """Count one finished inference request and its time in the server."""
        at = 0 if ok else 2
        with self._lock:
            self._inference[at] += 1
            self._inference[at + 1] += max(0, ns)

    def record_execution(self, execution: Execution) -> None:
        """Count one model execution and charge it to each request it served."""
        requests = len(execution.queue_ns)
        self._record(
            execution.rows,
            requests,
            sum(execution.queue_ns),
            execution.input_ns,
            execution.infer_ns,
            execution.output_ns,
        )

    def record_single(self, rows: int, queue_ns: int, infer_ns: int, output_ns: int) -> None:
        """Count one execution that served one request and merged nothing (no batching):
        the same as ``record_execution(Execution(rows, (queue_ns,), 0, infer_ns,
        output_ns))`` without building the record."""
        self._record(rows, 1, queue_ns, 0, infer_ns, output_ns)

    def _record(
        self, rows: int, requests: int, queue_ns: int, input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        input_ns, infer_ns, output_ns = max(0, input_ns), max(0, infer_ns), max(0, output_ns)
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            self.execution_count += 1
            self.inference_count += rows
            self.last_inference_ms = now_ms
            c = self._inference
            c[4] += requests
            c[5] += max(0, queue_ns)
            c[6] += requests
            c[7] += input_ns * requests
            c[8] += requests
            c[9] += infer_ns * requests
            c[10] += requests
            c[11] += output_ns * requests
            per_batch = self._batches.get(rows)
            if per_batch is None:
                if len(self._batches) >= MAX_BATCH_SIZES:
                    return  # clients choose row counts: the table stays bounded
                per_batch = self._batches[rows] = [0, 0, 0, 0]
            per_batch[0] += 1
            per_batch[1] += input_ns
            per_batch[2] += infer_ns
            per_batch[3] += output_ns

    def as_dict(self, name: str, version: str) -> dict[str, Any]:
        """This model's entry of ``model_stats`` (Triton's JSON schema)."""
        with self._lock:
            c = self._inference
            inference = {
                key: {"count": c[2 * i], "ns": c[2 * i + 1]} for i, key in enumerate(SCHEMA_KEYS)
            }
            inference["cache_hit"] = {"count": 0, "ns": 0}
            inference["cache_miss"] = {"count": 0, "ns": 0}
            batches = [
                {
                    "batch_size": size,
                    "compute_input": {"count": b[0], "ns": b[1]},
                    "compute_infer": {"count": b[0], "ns": b[2]},
                    "compute_output": {"count": b[0], "ns": b[3]},
                }
                for size, b in sorted(self._batches.items())
            ]
            return {
                "name": name,
                "version": version,
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": inference,
                "batch_stats": batches,
            }


class HasStats(Protocol):
    """A served model as the statistics endpoint sees it."""

    name: str
    version: str
    stats: ModelStats


def statistics(models: Iterable[HasStats]) -> dict[str, Any]:
    """Body of ``GET /v2/models[/{name}]/stats``: ``{"model_stats": [...]}``."""
    return {"model_stats": [m.stats.as_dict(m.name, m.version) for m in models]}
