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


@dataclass
class Duration:
    """A count and the total of its durations in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        """Add ``count`` events that took ``ns`` nanoseconds in total."""
        self.count += count
        self.ns += max(0, int(ns))

    def as_dict(self) -> dict[str, int]:
        """``{"count": ..., "ns": ...}``."""
        return {"count": self.count, "ns": self.ns}


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
    """Thread-safe counters of one loaded model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inference = {key: Duration() for key in SCHEMA_KEYS}
        self._batches: dict[int, tuple[Duration, Duration, Duration]] = {}
        self.inference_count = 0
        self.execution_count = 0
        self.last_inference_ms = 0

    def record_request(self, ok: bool, ns: int) -> None:
        """Count one finished inference request and its time in the server."""
        with self._lock:
            self._inference["success" if ok else "fail"].add(ns)

    def record_execution(self, execution: Execution) -> None:
        """Count one model execution and charge it to each request it served."""
        requests = len(execution.queue_ns)
        with self._lock:
            self.execution_count += 1
            self.inference_count += execution.rows
            self.last_inference_ms = time.time_ns() // 1_000_000
            self._inference["queue"].add(sum(execution.queue_ns), requests)
            self._inference["compute_input"].add(execution.input_ns * requests, requests)
            self._inference["compute_infer"].add(execution.infer_ns * requests, requests)
            self._inference["compute_output"].add(execution.output_ns * requests, requests)
            per_batch = self._batches.get(execution.rows)
            if per_batch is None:
                if len(self._batches) >= MAX_BATCH_SIZES:
                    return  # clients choose row counts: the table stays bounded
                per_batch = self._batches[execution.rows] = (Duration(), Duration(), Duration())
            per_batch[0].add(execution.input_ns)
            per_batch[1].add(execution.infer_ns)
            per_batch[2].add(execution.output_ns)

    def as_dict(self, name: str, version: str) -> dict[str, Any]:
        """This model's entry of ``model_stats`` (Triton's JSON schema)."""
        with self._lock:
            inference = {key: d.as_dict() for key, d in self._inference.items()}
            inference["cache_hit"] = Duration().as_dict()
            inference["cache_miss"] = Duration().as_dict()
            batches = [
                {
                    "batch_size": size,
                    "compute_input": phases[0].as_dict(),
                    "compute_infer": phases[1].as_dict(),
                    "compute_output": phases[2].as_dict(),
                }
                for size, phases in sorted(self._batches.items())
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
