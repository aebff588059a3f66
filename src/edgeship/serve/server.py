"""The HTTP front-end: the standard library's threading HTTP server, HTTP/1.1 keep-alive.

Chosen after measuring it against uvicorn + starlette on the same model (see the Serve
section of benchmarks/README.md): no dependency, and on small models it is as fast.
One thread per connection; inference runs on the model's engine pool.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edgeship.errors import ConfigError
from edgeship.serve.app import App
from edgeship.serve.protocol import Request, Response, dump_json
from edgeship.serve.settings import ServeSettings

log = logging.getLogger("edgeship.serve")


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time off a connection and hands it to the App."""

    protocol_version = "HTTP/1.1"
    server_version = "edgeship"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the App, which answers 404/405: no 501 for unknown methods.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it (``Expect: 100-continue``)."""
        try:
            too_big = (
                int(self.headers.get("Content-Length", "0")) > self.server.settings.max_body_bytes
            )
        except ValueError:
            too_big = False
        if too_big:
            self._write(_error(413, "The announced body exceeds the server's limit."), close=True)
            return False
        return super().handle_expect_100()

    def _dispatch(self, head: bool = False) -> None:
        settings = self.server.settings
        if self.headers.get("Transfer-Encoding"):
            self._write(_error(411, "Chunked bodies are not accepted; send Content-Length."), True)
            return
        raw_length = self.headers.get("Content-Length", "0")
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError
        except ValueError:
            self._write(_error(400, f"Bad Content-Length {raw_length[:40]!r}."), True)
            return
        if length > settings.max_body_bytes:
            message = f"Body of {length} bytes exceeds the limit of {settings.max_body_bytes}."
            self._write(
                _error(413, message + " Start the server with a larger --max-body-mb."), True
            )
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query).items()}
        request = Request(
            method="GET" if head else self.command,
            path=split.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = self.server.app.handle(request)
        self._write(response, head=head)

    def _write(self, response: Response, close: bool = False, head: bool = False) -> None:
        if close:
            self.close_connection = True
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines += [f"{k}: {v}" for k, v in response.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head_bytes if head else head_bytes + response.body)
        if self.server.settings.access_log:
            self.log_request(response.status)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found while parsing the request line or headers, as JSON and never 5xx."""
        if code == 501:  # unsupported method (unreachable through __getattr__, kept as a guard)
            code = 405
        elif code >= 500:  # e.g. 505 HTTP version not supported: the client's fault
            code = 400
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._write(_error(code, message or HTTPStatus(code).phrase), close=True)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def _error(status: int, message: str) -> Response:
    return Response(status=status, body=dump_json({"error": message}))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, app: App, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings
        self._slots = threading.BoundedSemaphore(settings.max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._closing = threading.Event()
        self._tls: ssl.SSLContext | None = None
        if settings.tls_cert and settings.tls_key:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(
                    f"Cannot use --tls-cert {settings.tls_cert} / --tls-key {settings.tls_key}: "
                    f"{exc}. Expected a PEM certificate and its PEM private key."
                ) from exc
            self._tls = ctx
        if ":" in settings.host:
            self.address_family = socket.AF_INET6
        super().__init__((settings.host, settings.port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=0.5):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.settings.request_timeout_s)
        conn = request
        if self._tls is not None:
            try:
                conn = self._tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.info("TLS handshake with %s failed: %s", client_address, exc)
                return
        with self._open_lock:
            self._open.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except OSError:  # client went away mid-response
            pass
        finally:
            with self._open_lock:
                self._open.discard(conn)
            if conn is not request:
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error on connection from %s", client_address)

    def close_all(self) -> None:
        self._closing.set()
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Server:
    """An HTTP(S) server for one :class:`App`.

    Use ``serve_forever()`` in the foreground, or ``start()`` / ``stop()`` (or a
    ``with`` block) to run it on a background thread.
    """

    def __init__(self, app: App, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings
        self._httpd = _HTTPServer(app, settings)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.settings.scheme}://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until ``stop()`` is called (from another thread) or KeyboardInterrupt."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()

    def start(self) -> Server:
        """Serve on a daemon thread and return self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections and the listening socket."""
        self._httpd.close_all()  # first: frees connection slots the accept loop may wait for
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
