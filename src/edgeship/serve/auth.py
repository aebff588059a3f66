"""Optional bearer-token access control.

With a token (``--token-file``), every request except the health endpoints must carry
``Authorization: Bearer <token>``; anything else gets a 401. Tokens are compared in constant
time.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from edgeship.errors import ConfigError
from edgeship.serve.protocol import HttpError, Request

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/healthz"})
MIN_TOKEN_CHARS = 16


def read_token_file(path: str | os.PathLike[str]) -> str:
    """Read a token (first line, stripped) from ``path``.

    Raises:
        ConfigError: the file is missing, empty, shorter than 16 characters or holds spaces.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the token file {p}: {exc}.") from exc
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_CHARS or any(ch.isspace() for ch in token):
        raise ConfigError(
            f"The token in {p} must be one line of at least {MIN_TOKEN_CHARS} characters "
            f"without spaces. Got {len(token)} characters. Create one with: "
            f"python -c 'import secrets; print(secrets.token_urlsafe(32))' > {p}"
        )
    return token


class BearerAuth:
    """Checks the ``Authorization`` header of each request against one token."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode("utf-8") if token else None

    def check(self, request: Request) -> None:
        """Raise a 401 :class:`HttpError` unless the request may pass."""
        if self._token is None or request.path in OPEN_PATHS:
            return
        value = request.header("authorization") or ""
        scheme, _, given = value.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="edgeship"'}
        if scheme.lower() != "bearer" or not given.strip():
            raise HttpError(
                401, "Missing bearer token. Send 'Authorization: Bearer <token>'.", challenge
            )
        if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), self._token):
            raise HttpError(401, "Invalid bearer token.", challenge)
