"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from edgeship.errors import ConfigError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's raw-description formatter, sized without importing ``shutil``.

    argparse builds a formatter for every ``add_argument`` and asks ``shutil`` for the
    terminal width; ``shutil`` (with bz2, lzma) does not belong on the path to a prediction.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def add_command(subparsers: Any, name: str, summary: str, examples: str) -> argparse.ArgumentParser:
    """Add a command parser whose ``--help`` ends with an examples block."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="examples:\n" + examples,
        formatter_class=HelpFormatter,
    )


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    import json

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
