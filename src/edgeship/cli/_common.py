"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TypeVar

from edgeship.errors import ConfigError

T = TypeVar("T")


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


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Dataclass ``cls`` built from the parsed flags of the same names, then ``overrides``.

    Fields without a flag keep their defaults; ``overrides`` supplies the fields whose flag
    has another name or needs converting.
    """
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return cls(**{**values, **overrides})


def add_json_flag(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """Add ``--json``: print ``what`` as JSON on stdout instead of the text summary."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_unsafe_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--unsafe``: load a Keras model with safe mode off (card, convert, pipeline)."""
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="load the Keras model with safe_mode off (runs code stored in the file, e.g. a "
        "Lambda layer: trusted files only)",
    )


def add_fleet_flags(parser: argparse.ArgumentParser, device_help: str) -> None:
    """Add ``--cluster ADDRESS`` and ``--device LABEL[,LABEL...]`` (a device fleet to run on);
    ``device_help`` says what the command does on each device."""
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="Dask scheduler of a device fleet, tcp://HOST:PORT (needs --device)",
    )
    parser.add_argument("--device", metavar="LABEL[,LABEL...]", help=device_help)


def square_size(size: int | None) -> tuple[int, int] | None:
    """``--image-size N`` as ``(N, N)``, or None when the flag was not given."""
    return None if size is None else (size, size)


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
