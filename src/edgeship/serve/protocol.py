"""Transport-neutral request and response objects shared by every endpoint.

The HTTP front-end (``server.py``) turns bytes on a socket into a :class:`Request`, hands it
to :class:`edgeship.serve.app.App` and writes the :class:`Response` back. Nothing here knows
about sockets, so every endpoint can be unit-tested without a server.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from edgeship.errors import EdgeshipError

_orjson: Any
try:  # optional speed-up (the ``serve`` extra); the standard library gives the same results
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None

JSON_TYPE = "application/json"


class HttpError(EdgeshipError):
    """A request failed with an HTTP status; the message becomes the error body.

    Args:
        status: HTTP status code (4xx for bad requests).
        message: what failed, what was expected, what was got.
        headers: extra response headers (e.g. ``WWW-Authenticate``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Request:
    """One HTTP request: method, path (without query), query parameters, headers, body.

    ``headers`` keys are lower-case.
    """

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return the header ``name`` (case-insensitive) or ``default``."""
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """One HTTP response: status, headers and the full body."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(body: bytes, what: str = "request body") -> Any:
    """Decode a JSON body; malformed JSON, NaN/Infinity tokens or bad UTF-8 raise a 400.

    Uses orjson when installed (the ``serve`` extra; ~5x faster on tensors), else the
    standard library with the same strictness.

    Args:
        body: raw bytes.
        what: how to name the body in the error message.

    Returns:
        The decoded JSON value.
    """
    try:
        if _orjson is not None:
            return _orjson.loads(body)
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HttpError(
            400, f"The {what} is not valid JSON: {exc}. Expected a JSON object."
        ) from exc


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def dump_json(value: Any) -> bytes:
    """Encode ``value`` as compact strict JSON (non-finite floats become null)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(value)  # type: ignore[no-any-return]
        except TypeError:  # e.g. an integer beyond 64 bits: the standard library below
            pass
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_clean(value), separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Build a JSON :class:`Response`."""
    return Response(status=status, body=dump_json(value), headers=dict(headers or {}))


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Build the ``{"error": message}`` body that KServe v2 and TF Serving both use."""
    return json_response({"error": message}, status=status, headers=headers)
