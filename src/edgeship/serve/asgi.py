"""A thin ASGI adapter: one HTTP request in, routed by :meth:`App.prepare`, one response out.

The :class:`~edgeship.serve.app.App` stays a plain object that knows nothing about sockets;
this module turns an ASGI ``http`` scope into a :class:`Request` and the :class:`Response`
back into ASGI messages. What belongs to the transport lives here:

* limits the App cannot see: method and URL length, header count, HTTP version, chunked
  bodies (411), the body size (413, refused before the body is read);
* a body that is over the limit is *drained* after the 413 is sent (up to
  :data:`DRAIN_MAX_BYTES` / :data:`DRAIN_IDLE_S`), so clients that do not send
  ``Expect: 100-continue`` (urllib, requests) read the 413 instead of a connection reset;
* a body that stops arriving for ``request_timeout_s`` gets a 408 and the connection closes;
* fast endpoints run inline on the event loop (no thread hop); an endpoint (a model and
  what is asked of it, however the path is spelled) whose recent calls took more than
  :data:`INLINE_BUDGET_S` (wall time on the loop, CPU time on the pool) runs on a thread
  pool, so a slow model never stalls health checks or other models; so does an endpoint
  beyond the :data:`MAX_TRACKED_ENDPOINTS` whose cost is tracked, and any request for which
  :attr:`AsgiAdapter.offload` says so (a request that waits for others must never block
  the loop).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from edgeship.serve.app import App
from edgeship.serve.protocol import Request, Response, dump_json
from edgeship.serve.settings import ServeSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_HEADERS = 100  # as the standard library's http.client / http.server
MAX_URL_BYTES = 32768
DRAIN_MAX_BYTES = 64 * 1024 * 1024  # read and drop at most this much of a refused body
DRAIN_IDLE_S = 2.0  # ... and stop when the client pauses this long
INLINE_BUDGET_S = 0.001  # endpoints faster than this on average run on the event loop
_COST_WEIGHT = 0.05  # moving average: a burst of slow calls moves it, one preempted call not
MAX_TRACKED_ENDPOINTS = 512
_CLOSE = (b"connection", b"close")
_ENCODED: dict[str, bytes] = {}  # content types, encoded once


class _Timeout(Exception):
    """The client stopped sending the body."""


def _joined(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers by name, the values of a repeated header joined with ``", "``."""
    headers: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _ready(receive: Receive) -> bool:
    """True when ``receive()`` will return at once: uvicorn's ``receive`` is a method of the
    request's cycle, whose ``message_event`` is set once body bytes are waiting. Any other
    server (or another uvicorn) gets False, and the read is timed as usual."""
    event = getattr(getattr(receive, "__self__", None), "message_event", None)
    return isinstance(event, asyncio.Event) and event.is_set()


def _error(status: int, message: str) -> Response:
    return Response(status=status, body=dump_json({"error": message}))


class AsgiAdapter:
    """Serve an :class:`App` to any ASGI 3 server (uvicorn, granian, hypercorn).

    Args:
        app: the application.
        settings: limits and timeouts (``max_body_bytes``, ``request_timeout_s``).
        executor_threads: threads that run slow endpoints off the event loop.
    """

    def __init__(self, app: App, settings: ServeSettings, executor_threads: int = 16) -> None:
        self.app = app
        self.settings = settings
        self._executor = ThreadPoolExecutor(executor_threads, thread_name_prefix="edgeship")
        self._cost: dict[tuple[str, str], float] = {}  # (model, endpoint) -> average CPU s
        self.offload: Callable[[Request], bool] | None = getattr(app, "waits", None)
        """Rule: True for a request that must leave the event loop (one that waits for
        other requests, as dynamic batching does, or loads a model); ``App.waits``."""

    def close(self) -> None:
        """Stop the thread pool (waits for running calls)."""
        self._executor.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- one request ------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        refusal = self._refuse(scope, raw_headers)
        # servers lower-case ASGI header names; a repeated header is joined with ", "
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw_headers}
        if len(headers) != len(raw_headers):
            headers = _joined(raw_headers)
        length = 0
        if refusal is None:
            refusal, length = self._check_body(headers)
        if refusal is not None:
            expect_continue = headers.get("expect", "").lower() == "100-continue"
            await self._refuse_and_drain(refusal, receive, send, drain=not expect_continue)
            return
        try:
            body = await self._read_body(receive, length) if length else b""
        except _Timeout:
            timeout = _error(408, "The request body stopped arriving; the connection is closed.")
            await self._send(send, timeout, close=True)
            return
        if body is None:  # client went away
            return
        query_string: bytes = scope.get("query_string") or b""
        query = {}
        if query_string:
            pairs = urllib.parse.parse_qs(query_string.decode("latin-1"))
            query = {k: v[0] for k, v in pairs.items()}
        method = scope["method"]
        raw_path: bytes | None = scope.get("raw_path")
        request = Request(
            method="GET" if method == "HEAD" else method,
            # still percent-encoded, as the App expects: it decodes model names itself, so
            # '%2F' stays inside a name instead of becoming a path separator
            path=raw_path.decode("latin-1") if raw_path else scope["path"],
            query=query,
            headers=headers,
            body=body,
        )
        response = await self._handle(request)
        await self._send(send, response)

    def _refuse(self, scope: Scope, raw_headers: list[tuple[bytes, bytes]]) -> Response | None:
        if scope.get("http_version") not in ("1.1", "1.0"):
            return _error(400, f"HTTP/{scope.get('http_version')} is not supported: use HTTP/1.1.")
        if (
            len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            > MAX_URL_BYTES
        ):
            return _error(414, f"The URL is longer than {MAX_URL_BYTES} bytes.")
        if len(raw_headers) > MAX_HEADERS:
            return _error(431, f"More than {MAX_HEADERS} request headers.")
        return None

    def _check_body(self, headers: dict[str, str]) -> tuple[Response | None, int]:
        if "transfer-encoding" in headers:
            return _error(411, "Chunked bodies are not accepted; send Content-Length."), 0
        raw = headers.get("content-length", "0")
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            return _error(400, f"Bad Content-Length {raw[:40]!r}."), 0
        limit = self.settings.max_body_bytes
        if length > limit:
            message = (
                f"Body of {length} bytes exceeds the limit of {limit}. "
                "Start the server with a larger --max-body-mb."
            )
            return _error(413, message), length
        return None, length

    async def _read_body(self, receive: Receive, length: int) -> bytes | None:
        chunks: list[bytes] = []
        loop = asyncio.get_running_loop()
        while True:
            if _ready(receive):  # the body is already here: no timer needed
                message = await receive()
            else:
                timeout = self.settings.request_timeout_s
                message = await self._receive_within(loop, receive, timeout)
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @staticmethod
    async def _receive_within(
        loop: asyncio.AbstractEventLoop, receive: Receive, seconds: float
    ) -> Message:
        """``await receive()``, or raise :class:`_Timeout` after ``seconds`` of silence."""
        task = asyncio.current_task()
        fired = False

        def expire() -> None:
            nonlocal fired
            fired = True
            if task is not None:
                task.cancel()

        timer = loop.call_later(seconds, expire)
        try:
            return await receive()
        except asyncio.CancelledError:
            if fired:
                raise _Timeout from None
            raise
        finally:
            timer.cancel()

    async def _refuse_and_drain(
        self, response: Response, receive: Receive, send: Send, drain: bool
    ) -> None:
        """Send ``response`` now; then read and drop what the client still sends, then close.

        A client that writes its whole body before reading (no ``Expect: 100-continue``)
        would otherwise get a TCP reset when the server closes with unread data.
        """
        await self._send(send, response, close=True, finish=not drain)
        if not drain:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(DRAIN_IDLE_S, self.settings.request_timeout_s)
        dropped = 0
        try:
            while dropped <= DRAIN_MAX_BYTES and loop.time() < deadline:
                message = await self._receive_within(loop, receive, DRAIN_IDLE_S)
                if message["type"] == "http.disconnect":
                    break
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except _Timeout:
            pass
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _handle(self, request: Request) -> Response:
        key, answer = self.app.prepare(request)
        cost = self._cost.get(key)
        tracked = cost is not None or len(self._cost) < MAX_TRACKED_ENDPOINTS
        cost = cost or 0.0
        offload = self.offload
        if tracked and cost < INLINE_BUDGET_S and (offload is None or not offload(request)):
            # On the loop nothing queues, so the wall clock (a fast vDSO read, where the
            # thread's CPU clock is a system call) is the call's cost, or more when the
            # process was preempted: rare for a fast call, and clamped below.
            start = time.perf_counter()
            response = answer()
            seconds = time.perf_counter() - start
        else:  # slow, unknown once the table is full, or waiting for others
            loop = asyncio.get_running_loop()
            response, seconds = await loop.run_in_executor(self._executor, self._timed, answer)
        if tracked:
            seconds = min(seconds, 2 * INLINE_BUDGET_S)  # one outlier moves it by <= 0.1 ms
            self._cost[key] = cost + _COST_WEIGHT * (seconds - cost)
        return response

    @staticmethod
    def _timed(answer: Callable[[], Response]) -> tuple[Response, float]:
        """Answer and return the CPU seconds it took (neither the wait for a pool thread nor
        preemption count)."""
        start = time.thread_time()
        response = answer()
        return response, time.thread_time() - start

    @staticmethod
    async def _send(
        send: Send, response: Response, close: bool = False, finish: bool = True
    ) -> None:
        content_type = _ENCODED.get(response.content_type)
        if content_type is None:
            content_type = response.content_type.encode("latin-1")
            if len(_ENCODED) < 64:
                _ENCODED[response.content_type] = content_type
        headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(response.body))]
        for name, value in response.headers.items():
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        if close:
            headers.append(_CLOSE)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": not finish})
