"""``--allow-no-manifest`` and ``--include-failed``: the flags of ``serve`` and ``bench`` that
take directories which no manifest vouches for, or variants that failed their checks."""

from __future__ import annotations

from typing import Any


def add_discovery_flags(parser: Any, verb: str) -> None:
    """Add the two flags to ``parser``; ``verb`` is "serve" or "measure"."""
    parser.add_argument(
        "--allow-no-manifest",
        action="store_true",
        help=f"{verb} the artifacts of a directory without manifest.json (unverified; an "
        "interrupted convert leaves such folders), with a warning",
    )
    parser.add_argument(
        "--include-failed",
        action="store_true",
        help=f"also {verb} the variants the manifest marks 'failed'",
    )


def discovery_policy(args: Any) -> Any:
    """The :class:`edgeship.discovery.DiscoveryPolicy` the parsed flags ask for."""
    from edgeship.discovery import DiscoveryPolicy

    return DiscoveryPolicy(
        allow_no_manifest=bool(getattr(args, "allow_no_manifest", False)),
        include_failed=bool(getattr(args, "include_failed", False)),
    )
