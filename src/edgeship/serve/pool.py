"""A model's engines, lent to one request at a time, and closed only when nobody holds them.

Closing a native interpreter while another thread is inside ``invoke`` can crash the whole
process. So :meth:`EnginePool.close` closes the engines that are idle now, and an engine that
a request still holds (a slow or stuck call) is closed when that request gives it back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from edgeship.serve.batching import RETRY_AFTER
from edgeship.serve.protocol import HttpError


class _Closable(Protocol):
    def close(self) -> None: ...


E = TypeVar("E", bound=_Closable)


def build_engines(make: Callable[[], E], count: int) -> list[E]:
    """Call ``make`` ``count`` times; when one call fails, close the engines already built
    (they hold native memory and threads) and re-raise."""
    engines: list[E] = []
    try:
        for _ in range(count):
            engines.append(make())
    except BaseException:
        for built in engines:
            built.close()
        raise
    return engines


class EnginePool:
    """Engines of one model, each lent to one caller at a time.

    Args:
        name: the model's name (for error messages).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._free: list[Any] = []
        self._closed = False
        self._waiting = 0  # callers inside acquire() waiting for an engine
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def add(self, engine: Any) -> None:
        """Put a new engine in the pool (closed at once when the pool is closed)."""
        with self._cond:
            if not self._closed:
                self._free.append(engine)
                self._cond.notify()
                return
        engine.close()

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """Wait for a free engine and lend it for one call (:meth:`acquire` and
        :meth:`release` in a ``with`` block).

        Raises:
            HttpError: 503 once the pool is closed (the model is being unloaded).
        """
        engine = self.acquire()
        try:
            yield engine
        finally:
            self.release(engine)

    def acquire(self) -> Any:
        """Wait for a free engine and take it; the caller must :meth:`release` it (in a
        ``finally``).

        Raises:
            HttpError: 503 once the pool is closed (the model is being unloaded).
        """
        with self._lock:
            if not self._free and not self._closed:
                self._waiting += 1
                try:
                    self._cond.wait_for(lambda: bool(self._free) or self._closed)
                finally:
                    self._waiting -= 1
            if self._closed:
                raise HttpError(503, f"Model '{self.name}' is being unloaded.", RETRY_AFTER)
            return self._free.pop()

    def release(self, engine: Any) -> None:
        """Give back an engine taken with :meth:`acquire` (closed now if the pool was
        closed meanwhile)."""
        with self._lock:
            keep = not self._closed
            if keep:
                self._free.append(engine)
                if self._waiting:
                    self._cond.notify()
        if not keep:
            engine.close()

    def close(self) -> None:
        """Close the idle engines now and each borrowed one when it comes back; callers
        waiting for an engine get a 503."""
        with self._cond:
            self._closed = True
            idle, self._free = self._free, []
            self._cond.notify_all()
        for engine in idle:
            engine.close()
