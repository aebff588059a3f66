"""Network helpers shared by the local fleet, the tests and the benchmarks (stdlib only)."""

from __future__ import annotations

import socket


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that nobody listens on right now.

    The sockets are held open together while the ports are picked, so the ports differ.
    Another process may still take one before the caller binds it: callers that start servers
    on them should fail clearly (not hang) when a bind fails.
    """
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def listening(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port`` now (port 0: never)."""
    if not port:
        return False
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=1.0):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """One TCP port that nobody listens on right now (see :func:`free_ports`)."""
    return free_ports(1, host)[0]
