"""Server settings: one frozen dataclass, checked when it is built."""

from __future__ import annotations

from dataclasses import dataclass

from edgeship.errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """How the server listens and what it accepts.

    Attributes:
        host: address to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        max_body_bytes: largest request body (after decompression) accepted; larger is a 413.
        request_timeout_s: a client that sends nothing for this long is disconnected (covers
            slow bodies and idle keep-alive connections).
        max_connections: connections served at once; more wait in the listen backlog.
        token: bearer token required on every non-health endpoint, or None.
        tls_cert: PEM certificate file; with ``tls_key`` the server speaks HTTPS.
        tls_key: PEM private key file.
        access_log: print one line per request on stderr.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 16 * MiB
    request_timeout_s: float = 30.0
    max_connections: int = 256
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    access_log: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be an integer from 0 to 65535. Got: {self.port!r}")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1024:
            raise ConfigError(
                f"max_body_bytes must be an integer of at least 1024. Got: {self.max_body_bytes!r}"
            )
        if not 0 < float(self.request_timeout_s) <= 3600:
            raise ConfigError(
                f"request_timeout_s must lie in (0, 3600] seconds. Got: {self.request_timeout_s!r}"
            )
        if not isinstance(self.max_connections, int) or not 1 <= self.max_connections <= 10000:
            raise ConfigError(
                f"max_connections must be an integer from 1 to 10000. Got: {self.max_connections!r}"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(
                "TLS needs both a certificate and a key (--tls-cert and --tls-key). "
                f"Got cert={self.tls_cert!r}, key={self.tls_key!r}."
            )

    @property
    def scheme(self) -> str:
        """``"https"`` with TLS, else ``"http"``."""
        return "https" if self.tls_cert else "http"
