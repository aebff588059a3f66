"""`edgeship pipeline`: not implemented yet."""

from __future__ import annotations

from typing import Any

from edgeship.cli._common import add_command
from edgeship.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "pipeline", "(not implemented yet)", "  edgeship pipeline --help\n")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    raise ConfigError("'edgeship pipeline' is not implemented yet.")
