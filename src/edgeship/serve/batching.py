"""Dynamic batching: requests that arrive close together run as one batch.

The meaning is Triton's: a model with ``max_batch_size`` N > 0 takes a batch axis first; the
dynamic batcher holds a request up to ``max_queue_delay_microseconds`` so that others can join
it, runs at once when the rows reach a ``preferred_batch_size`` (or N), merges the inputs along
the batch axis, runs the model once and splits the outputs back by rows. Each request gets
copies of its own rows only, never a view into another's data. Requests merge only when every
input has the same dtype and the same non-batch dimensions.

The queue is bounded (``max_queue_size`` requests): a request that finds it full is answered
503 with ``Retry-After`` at once, and a request that waits longer than its timeout gets a 503
too, so no caller ever hangs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from edgeship.errors import ConfigError
from edgeship.serve.protocol import HttpError
from edgeship.serve.stats import Execution, ModelStats

log = logging.getLogger("edgeship.serve")
Feeds = dict[str, np.ndarray]
RETRY_AFTER = {"Retry-After": "1"}
_MAX_BATCH = 1 << 16


def _positive_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}. Got: {value!r}")
    return value


@dataclass(frozen=True)
class BatchingConfig:
    """Dynamic batching settings of one model (Triton's ``dynamic_batching`` block).

    Attributes:
        max_batch_size: most rows one execution takes; a request with more is refused (400).
        preferred_batch_size: batch sizes that run at once, without waiting for the delay.
        max_queue_delay_microseconds: longest a request waits for others to join it.
        max_queue_size: requests waiting at most; one more gets a 503 with ``Retry-After``.
        timeout_microseconds: longest a request waits for its result before a 503.
    """

    max_batch_size: int = 8
    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = 0
    max_queue_size: int = 256
    timeout_microseconds: int = 30_000_000

    def __post_init__(self) -> None:
        _positive_int("max_batch_size", self.max_batch_size, 1, _MAX_BATCH)
        sizes = tuple(self.preferred_batch_size)
        for size in sizes:
            _positive_int("preferred_batch_size", size, 1, self.max_batch_size)
        object.__setattr__(self, "preferred_batch_size", tuple(sorted(set(sizes))))
        _positive_int("max_queue_delay_microseconds", self.max_queue_delay_microseconds, 0, 10**7)
        _positive_int("max_queue_size", self.max_queue_size, 1, 1 << 20)
        _positive_int("timeout_microseconds", self.timeout_microseconds, 1000, 3600 * 10**6)

    def as_triton(self) -> dict[str, object]:
        """The ``dynamic_batching`` block of a Triton model configuration."""
        return {
            "preferred_batch_size": list(self.preferred_batch_size),
            "max_queue_delay_microseconds": self.max_queue_delay_microseconds,
            "default_queue_policy": {
                "max_queue_size": self.max_queue_size,
                "default_timeout_microseconds": self.timeout_microseconds,
            },
        }


_SPEC_KEYS = {
    "max_batch_size": "max_batch_size",
    "preferred_batch_size": "preferred_batch_size",
    "max_queue_delay_microseconds": "max_queue_delay_microseconds",
    "max_queue_size": "max_queue_size",
    "timeout_microseconds": "timeout_microseconds",
}


def parse_batching_spec(spec: str) -> tuple[str, BatchingConfig]:
    """Parse ``[MODEL:]key=value,...`` (the ``--dynamic-batching`` flag).

    Keys are the :class:`BatchingConfig` fields; ``preferred_batch_size`` takes sizes joined by
    ``/`` (e.g. ``4/8``). Without ``MODEL:`` the settings apply to every model (``"*"``).

    Returns:
        ``(model name or "*", config)``.

    Raises:
        ConfigError: unknown key, a value that is not an integer, or an invalid setting.
    """
    model, _, body = spec.rpartition(":")
    model = model.strip() or "*"
    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in _SPEC_KEYS:
            raise ConfigError(
                f"--dynamic-batching {spec!r}: expected [MODEL:]key=value,... with keys "
                f"{sorted(_SPEC_KEYS)}. Got: {part!r}"
            )
        try:
            if key.strip() == "preferred_batch_size":
                values[key.strip()] = tuple(int(v) for v in value.split("/") if v.strip())
            else:
                values[key.strip()] = int(value)
        except ValueError as exc:
            raise ConfigError(
                f"--dynamic-batching {spec!r}: {key.strip()} takes integers (sizes joined "
                f"by '/'). Got: {value!r}"
            ) from exc
    return model, BatchingConfig(**values)  # type: ignore[arg-type]


class _Pending:
    """One request in the queue."""

    __slots__ = ("done", "enqueued_ns", "error", "feeds", "key", "result", "rows")

    def __init__(self, feeds: Feeds) -> None:
        self.feeds = feeds
        first = next(iter(feeds.values()))
        self.rows = int(first.shape[0])
        self.key = tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in feeds.items()))
        self.enqueued_ns = time.perf_counter_ns()
        self.done = threading.Event()
        self.result: Feeds | None = None
        self.error: str | None = None


class DynamicBatcher:
    """Merges a model's concurrent requests into batches and runs them on ``workers`` threads.

    Args:
        name: model name (for messages).
        config: the batching settings.
        run: runs the model on merged feeds (borrowing an engine); returns outputs by name.
        stats: the model's statistics.
        workers: threads executing batches (one per engine of the model).
    """

    def __init__(
        self,
        name: str,
        config: BatchingConfig,
        run: Callable[[Feeds], Mapping[str, np.ndarray]],
        stats: ModelStats,
        workers: int = 1,
    ) -> None:
        self.name = name
        self.config = config
        self._run = run
        self._stats = stats
        self._queue: queue.Queue[_Pending] = queue.Queue(config.max_queue_size)
        self._collect = threading.Lock()
        self._admit = threading.Lock()
        self._carry: _Pending | None = None
        self._closed = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"batcher-{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, feeds: Feeds) -> Feeds:
        """Queue checked ``feeds``, wait for the batch to run, return this request's outputs.

        Raises:
            HttpError: 400 when the rows exceed ``max_batch_size``; 503 (with Retry-After)
                when the queue is full, the wait times out or the model is being unloaded;
                500 when the model failed on the batch.
        """
        pending = _Pending(feeds)
        if pending.rows > self.config.max_batch_size:
            raise HttpError(
                400,
                f"Model '{self.name}' takes at most {self.config.max_batch_size} rows per "
                f"request (max_batch_size); got a batch of {pending.rows}. Split the request.",
            )
        with self._admit:  # close() drains the queue only after the last admission
            if self._closed.is_set():
                raise HttpError(503, f"Model '{self.name}' is being unloaded.", RETRY_AFTER)
            try:
                self._queue.put_nowait(pending)
            except queue.Full:
                raise HttpError(
                    503,
                    f"Model '{self.name}' has {self.config.max_queue_size} requests waiting "
                    "(max_queue_size). Retry later.",
                    RETRY_AFTER,
                ) from None
        if not pending.done.wait(self.config.timeout_microseconds / 1e6):
            pending.error = "timeout"  # a worker that picks it up later skips it
            raise HttpError(
                503,
                f"Model '{self.name}' did not run the request within "
                f"{self.config.timeout_microseconds // 1000} ms. Retry later.",
                RETRY_AFTER,
            )
        if pending.result is None:
            status = 503 if self._closed.is_set() else 500
            raise HttpError(
                status,
                f"Model '{self.name}' failed on a batch: {pending.error}",
                RETRY_AFTER if status == 503 else None,
            )
        return pending.result

    def close(self) -> None:
        """Stop the workers after their current batch; requests still queued get a 503."""
        with self._admit:
            self._closed.set()
        for thread in self._threads:
            thread.join(timeout=10)
        leftovers = [self._carry] if self._carry is not None else []
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for item in leftovers:
            item.error = "the model is being unloaded"
            item.done.set()

    # -- workers ------------------------------------------------------------------------

    def _next(self, timeout: float) -> _Pending:
        """The carried-over request, else the next queued one (``queue.Empty`` on timeout)."""
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()

    def _first(self) -> _Pending | None:
        """Wait for a live request; None once the batcher is closed."""
        while not self._closed.is_set():
            try:
                item = self._next(0.25)
            except queue.Empty:
                continue
            if self._closed.is_set():
                self._carry = item
                return None
            if item.error is None:  # else it timed out while queued
                return item
        return None

    def _gather(self) -> list[_Pending] | None:
        """Collect one batch (holding the collect lock); None when closing."""
        cfg = self.config
        with self._collect:
            first = self._first()
            if first is None:
                return None
            batch, rows = [first], first.rows
            deadline = first.enqueued_ns + cfg.max_queue_delay_microseconds * 1000
            preferred = cfg.preferred_batch_size
            while rows < cfg.max_batch_size:
                if rows in preferred and (rows == preferred[-1] or self._queue.empty()):
                    break
                try:
                    item = self._next((deadline - time.perf_counter_ns()) / 1e9)
                except queue.Empty:
                    break
                if item.error is not None:
                    continue
                if item.key != first.key or rows + item.rows > cfg.max_batch_size:
                    self._carry = item
                    break
                batch.append(item)
                rows += item.rows
            return batch

    def _work(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                return
            try:
                self._execute(batch)
            except Exception as exc:  # a model failure fails its batch, never the worker
                log.exception("model '%s' failed on a batch of %d requests", self.name, len(batch))
                for item in batch:
                    item.result = None
                    item.error = f"{type(exc).__name__}: {exc}"
                    item.done.set()

    def _execute(self, batch: list[_Pending]) -> None:
        start = time.perf_counter_ns()
        queue_ns = tuple(start - item.enqueued_ns for item in batch)
        rows = sum(item.rows for item in batch)
        if len(batch) == 1:
            merged = batch[0].feeds
        else:
            merged = {n: np.concatenate([item.feeds[n] for item in batch]) for n in batch[0].feeds}
        merged_at = time.perf_counter_ns()
        outputs = self._run(merged)
        ran_at = time.perf_counter_ns()
        if len(batch) == 1:
            batch[0].result = dict(outputs)
        else:
            bad = {n: a.shape for n, a in outputs.items() if a.ndim == 0 or a.shape[0] != rows}
            if bad:
                raise ValueError(
                    f"outputs {bad} do not have the batch's {rows} rows first; the model "
                    "cannot be batched (serve it without --dynamic-batching)"
                )
            offset = 0
            for item in batch:
                end = offset + item.rows
                item.result = {n: np.array(a[offset:end], copy=True) for n, a in outputs.items()}
                offset = end
        done_at = time.perf_counter_ns()
        self._stats.record_execution(
            Execution(rows, queue_ns, merged_at - start, ran_at - merged_at, done_at - ran_at)
        )
        for item in batch:
            item.done.set()
