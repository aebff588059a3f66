"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgeship.errors import ConfigError


def add_command(subparsers: Any, name: str, summary: str, examples: str) -> argparse.ArgumentParser:
    """Add a command parser whose ``--help`` ends with an examples block."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def csv_list(text: str | None) -> list[str]:
    """Split ``"a,b, c"`` into ``["a", "b", "c"]``; None or empty gives []."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def int_list(text: str | None, option: str) -> list[int]:
    """Split ``"1,2,4"`` into ints, with an error naming ``option`` on bad input."""
    try:
        return [int(part) for part in csv_list(text)]
    except ValueError as exc:
        raise ConfigError(
            f"{option} expects comma-separated integers such as '1,2,4'. Got: {text!r}"
        ) from exc
