"""`edgeship predict`: not implemented yet."""

from __future__ import annotations

from typing import Any

from edgeship.cli._common import add_command
from edgeship.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "predict", "(not implemented yet)", "  edgeship predict --help\n")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    raise ConfigError("'edgeship predict' is not implemented yet.")
