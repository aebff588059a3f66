"""Several server processes on one listening socket, for multi-core machines.

The parent binds the socket, then starts N worker processes (``spawn``: nothing is inherited
but the socket); each loads its own copy of the models and runs its own event loop, and the
kernel spreads new connections over them. gRPC works the same way with ``SO_REUSEPORT``: the
parent reserves the port (:class:`GrpcPort`: bound, never listening, so no other program can
take it), and every worker listens on it with its own gRPC server; the kernel spreads new
gRPC connections (each a long-lived HTTP/2 channel) over the workers. Statistics and metrics
are per process: a client sees those of the worker its connection reached. Each process holds
its own engines, so memory grows by one process's footprint per worker (measured in
benchmarks/README.md).

SIGTERM or SIGINT to the parent is passed to every worker; each finishes the requests it
has in flight and exits, and the parent exits 0 when all of them did.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgeship.errors import ConfigError
from edgeship.netutil import listening
from edgeship.serve.settings import ServeSettings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _orphan_watch(parent: int, stop: Callable[[int, Any], None]) -> None:
    """Stop this worker when its parent is gone (killed without passing the signal on)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    stop(signal.SIGTERM, None)


class GrpcPort:
    """A gRPC port held for worker processes: bound with ``SO_REUSEPORT`` but not listening
    (the kernel gives connections only to listening sockets, i.e. to the workers).

    Args:
        host: the address to bind (as ``--host``).
        port: the port; 0 picks a free one.

    Raises:
        ConfigError: the port is taken (a program listens there, or holds it without
            ``SO_REUSEPORT``), or the host cannot be bound.
    """

    def __init__(self, host: str, port: int) -> None:
        if listening(host, port):
            raise ConfigError(f"Cannot listen for gRPC on {host}:{port}: the port is taken.")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"Cannot listen for gRPC on {host}:{port}: {exc}.") from exc
        self.host = host
        self.port = int(self._sock.getsockname()[1])

    @property
    def address(self) -> str:
        """``host:port`` for a gRPC client."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stop(self, grace_s: float = 0.0) -> None:
        """Release the port (the workers' own sockets are theirs to close)."""
        self._sock.close()


def _worker(
    paths: Sequence[str],
    settings: ServeSettings,
    sock: socket.socket,
    options: dict[str, Any],
    parent: int,
) -> None:
    from edgeship.serve import create_server

    grpc_port = int(options.pop("grpc_port", 0) or 0)
    servers: list[Any] = []
    stopping: list[int] = []

    def _stop(signum: int, frame: Any) -> None:
        stopping.append(signum)
        for server in servers:
            server.stop()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    signal.signal(signal.SIGTERM, _stop)  # also while the models load
    threading.Thread(target=_orphan_watch, args=(parent, _stop), daemon=True).start()
    server = create_server(paths, settings, sock=sock, **options)
    servers.append(server)
    grpc_server = None
    try:
        if grpc_port and not stopping:
            from edgeship.serve.grpc_server import GrpcServer

            grpc_server = GrpcServer(server.app, settings, grpc_port, reuse_port=True).start()
        if stopping:
            server.stop()
        server.serve_forever()
    finally:
        if grpc_server is not None:
            grpc_server.stop()  # lets the RPCs in flight finish
        server.app.registry.close()


def serve_processes(
    paths: Sequence[str],
    settings: ServeSettings,
    sock: socket.socket,
    processes: int,
    options: dict[str, Any],
    announce: Callable[[], None] | None = None,
) -> int:
    """Serve with ``processes`` worker processes sharing ``sock``; return the exit status.

    Args:
        paths: what to serve (as for :func:`edgeship.serve.create_server`).
        settings: the server settings (the same in every process).
        sock: a bound, listening socket.
        processes: how many worker processes.
        options: keyword arguments for ``create_server`` (backend, threads, workers), and
            ``grpc_port``: a port held by a :class:`GrpcPort`, on which every worker serves
            gRPC (0 or absent: no gRPC).
        announce: called once the stop signals are handled, before the workers start.

    Returns:
        0 when every worker exited cleanly, else 1.
    """
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(
            target=_worker, args=(list(paths), settings, sock, options, os.getpid()), daemon=False
        )
        for _ in range(processes)
    ]
    stopping = False
    signalled: set[int] = set()

    def _stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.pid is not None and proc.pid not in signalled and proc.exitcode is None:
                signalled.add(proc.pid)
                os.kill(proc.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}
    try:
        if announce is not None:
            announce()
        for proc in procs:
            if not stopping:
                proc.start()
        while any(p.is_alive() for p in procs):
            if stopping:
                _stop(signal.SIGTERM, None)  # also a worker that was starting at the signal
            for proc in (p for p in procs if p.pid is not None):
                proc.join(timeout=0.2)
                if proc.exitcode not in (None, 0) and not stopping:
                    _stop(signal.SIGTERM, None)  # one worker died: stop the others too
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    # A worker stopped before it could install its handler ends by the signal itself.
    clean = (0, -signal.SIGTERM) if stopping else (0,)
    return 0 if all(p.exitcode in clean for p in procs if p.pid is not None) else 1
