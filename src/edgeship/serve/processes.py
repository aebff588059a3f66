"""Several server processes on one listening socket, for multi-core machines.

The parent binds the socket, then starts N worker processes (``spawn``: nothing is inherited
but the socket); each loads its own copy of the models and runs its own event loop, and the
kernel spreads new connections over them. Each process holds its own engines, so memory
grows by one process's footprint per worker (measured in benchmarks/README.md).

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

from edgeship.serve.settings import ServeSettings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _orphan_watch(parent: int, stop: Callable[[int, Any], None]) -> None:
    """Stop this worker when its parent is gone (killed without passing the signal on)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    stop(signal.SIGTERM, None)


def _worker(
    paths: Sequence[str],
    settings: ServeSettings,
    sock: socket.socket,
    options: dict[str, Any],
    parent: int,
) -> None:
    from edgeship.serve import create_server

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
    if stopping:
        server.stop()
    try:
        server.serve_forever()
    finally:
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
        options: keyword arguments for ``create_server`` (backend, threads, workers).
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
