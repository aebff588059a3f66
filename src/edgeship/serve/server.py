"""The HTTP front-end: uvicorn (httptools parser, uvloop event loop) behind a thin ASGI adapter.

Chosen by measurement with a native load generator (``benchmarks/serve_http.py``, results in
benchmarks/README.md): on the same model, uvicorn + httptools + uvloop served about twice the
requests per second of the standard library's threaded server, with a 4-5x shorter tail.

Three things are added to uvicorn's HTTP protocol (:class:`_Protocol`):

* ``max_connections`` connections are served at once; more are accepted but not read until
  one closes (they wait, as they did in the kernel backlog), instead of uvicorn's 503;
* a connection that sends nothing for ``request_timeout_s`` is closed, not only idle
  keep-alive connections; so is one whose request head (request line and headers) is not
  complete ``request_timeout_s`` after its first byte, however slowly it trickles in;
* a response's head and body leave in one write (:class:`_HeadWithBody`): one TCP segment
  and one system call per small response instead of two, for the server and its client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from edgeship._lazy import require
from edgeship.errors import ConfigError, EdgeshipError
from edgeship.serve.app import App
from edgeship.serve.asgi import MAX_URL_BYTES, AsgiAdapter
from edgeship.serve.protocol import dump_json
from edgeship.serve.settings import ServeSettings

log = logging.getLogger("edgeship.serve")
_PURPOSE = "serve models over HTTP"


class ServerStartError(EdgeshipError, RuntimeError):
    """The server thread ended before it accepted connections; ``cause`` is why (None when
    it ended without an exception)."""

    def __init__(self, message: str, cause: BaseException | None) -> None:
        super().__init__(message)
        self.cause = cause


def _tls_context(settings: ServeSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert and settings.tls_key):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"Cannot use --tls-cert {settings.tls_cert} / --tls-key {settings.tls_key}: "
            f"{exc}. Expected a PEM certificate and its PEM private key."
        ) from exc
    return ctx


def bind_socket(settings: ServeSettings) -> socket.socket:
    """Bind and listen on ``settings.host:settings.port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(1024)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


class _HeadWithBody:
    """The transport as one request's response cycle sees it: the response head (status line
    and headers) is held until the body's bytes are written, and both leave in one write, so
    a small response is one TCP segment and one system call instead of two.

    uvicorn writes the body (even an empty one) right after the head for every method but
    HEAD, so nothing is held for long; ``close()`` sends what is held first. The interim
    ``100 Continue`` passes at once.
    """

    __slots__ = ("_head", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif not self._started and not data.startswith(b"HTTP/1.1 100 "):
            self._started = True
            self._head = bytes(data)
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol_class(settings: ServeSettings) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a connection limit and an idle timeout."""
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    active: set[Any] = set()
    waiting: deque[Any] = deque()
    timeout = settings.request_timeout_s
    limit = settings.max_connections

    class _Protocol(HttpToolsProtocol):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_deadline: asyncio.TimerHandle | None = None
            if len(active) >= limit:
                transport.pause_reading()
                waiting.append(self)
            else:
                active.add(self)
                self._arm_idle_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            self._unset_keepalive_if_required()
            self._cancel_head_deadline()
            if self in active:
                active.discard(self)
                while waiting and len(active) < limit:
                    nxt = waiting.popleft()
                    if not nxt.transport.is_closing():
                        active.add(nxt)
                        nxt.transport.resume_reading()
                        nxt._arm_idle_timer()
            else:
                with contextlib.suppress(ValueError):
                    waiting.remove(self)

        def data_received(self, data: bytes) -> None:
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserInvalidMethodError:
                word, space, _ = data.partition(b" ")
                if space and word.isalpha() and len(word) <= 20:  # a method llhttp does not know
                    method = word.decode("ascii")
                    self._reply_and_close(405, f"{method} is not allowed: not an HTTP method.")
                else:
                    self._reply_and_close(400, "Invalid HTTP request line.")
                return
            except httptools.HttpParserError as exc:
                if len(getattr(self, "url", b"")) > MAX_URL_BYTES:
                    self._reply_and_close(414, f"The URL is longer than {MAX_URL_BYTES} bytes.")
                else:
                    self._reply_and_close(400, f"Invalid HTTP request: {exc}.")
                return
            except httptools.HttpParserUpgrade:
                self._reply_and_close(400, "Protocol upgrades are not supported.")
                return
            if self.cycle is None or self.cycle.response_complete:
                self._arm_head_deadline()  # inside a request's head: one deadline for it all

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._cancel_head_deadline()  # the body has its own timeout (AsgiAdapter)
            # head and body in one write; not for HEAD (no body follows), nor after an upgrade
            cycle = self.cycle  # (which returns early, leaving no new cycle)
            if cycle is not None and cycle.scope is self.scope and self.scope["method"] != "HEAD":
                cycle.transport = _HeadWithBody(self.transport)  # type: ignore[assignment]

        def _reply_and_close(self, status: int, message: str) -> None:
            body = dump_json({"error": message})
            phrase = HTTPStatus(status).phrase.encode("latin-1")
            head = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
            head += b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
            self.transport.write(head + b"connection: close\r\n\r\n" + body)
            self.transport.close()

        def _arm_head_deadline(self) -> None:
            """Close the connection ``timeout`` s after its request head began, however the
            bytes trickle in; set once per head, never extended by more data."""
            if self._head_deadline is None and not self.transport.is_closing():
                self._head_deadline = self.loop.call_later(timeout, self.transport.close)

        def _cancel_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _arm_idle_timer(self) -> None:
            if self.transport.is_closing():
                return
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                timeout, self.timeout_keep_alive_handler
            )

    return _Protocol


class _Uvicorn:
    """Builds the uvicorn server object; signals are handled by :class:`Server`."""

    @staticmethod
    def make(adapter: AsgiAdapter, settings: ServeSettings, tls: ssl.SSLContext | None) -> Any:
        uvicorn = require("uvicorn", "serve", _PURPOSE)
        require("httptools", "serve", _PURPOSE)

        class _Server(uvicorn.Server):  # type: ignore[misc,name-defined]
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the owner of the process decides what a signal means

        config = uvicorn.Config(
            adapter,
            http=_protocol_class(settings),
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=settings.access_log,
            server_header=False,
            proxy_headers=False,  # the access log names the peer, not X-Forwarded-For
            timeout_keep_alive=max(1, round(settings.request_timeout_s)),
            timeout_graceful_shutdown=max(1, round(settings.request_timeout_s)),
            backlog=1024,
        )
        config.load()
        config.ssl = tls
        return _Server(config)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when installed (it is in the ``serve`` extra), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()  # type: ignore[no-any-return]


class Server:
    """An HTTP(S) server for one :class:`App`.

    The socket is bound when the server is built (so ``port`` is known and a busy port fails
    early). Use ``serve_forever()`` in the foreground, or ``start()`` / ``stop()`` (or a
    ``with`` block) to run it on a background thread. ``stop()`` is graceful: new
    connections are refused, requests in flight finish (up to ``request_timeout_s``).
    """

    def __init__(
        self, app: App, settings: ServeSettings, sock: socket.socket | None = None
    ) -> None:
        self.app = app
        self.settings = settings
        tls = _tls_context(settings)
        self.adapter = AsgiAdapter(app, settings)
        self._uvicorn = _Uvicorn.make(self.adapter, settings, tls)
        self._sock = sock if sock is not None else bind_socket(settings)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        return int(self._sock.getsockname()[1])

    @property
    def socket(self) -> socket.socket:
        """The listening socket (to share with worker processes)."""
        return self._sock

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.settings.scheme}://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until ``stop()`` is called (e.g. from a signal handler); then return."""
        loop = new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()
            self.adapter.close()

    async def _serve(self) -> None:
        await self._uvicorn.serve(sockets=[self._sock])

    def start(self) -> Server:
        """Serve on a daemon thread and return self once it accepts connections.

        Raises:
            ServerStartError: the thread ended during startup (carries its exception).
        """
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self.serve_forever()
            except BaseException as exc:  # uvicorn may sys.exit(); report it to start()
                failure.append(exc)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        while not self._uvicorn.started and self._thread.is_alive():
            self._thread.join(timeout=0.01)
        if not self._uvicorn.started:
            cause = failure[0] if failure else None
            why = f"{type(cause).__name__}: {cause}" if cause else "it ended without an error"
            where = self.url if self._sock.fileno() >= 0 else "its socket"
            raise ServerStartError(
                f"The server on {where} stopped before accepting connections ({why}). "
                "Check the address, the TLS files and the log above.",
                cause,
            ) from cause
        return self

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish, close the listening socket.

        Safe to call from a signal handler or another thread.
        """
        self._uvicorn.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.settings.request_timeout_s + 5)
        if self._thread is not None:
            self._sock.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
