"""Entry point of the ``edgeship`` command.

Each command lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func`` default is the function to run (``func(args) -> int``). Modules import only
the standard library at import time, so ``edgeship --help`` never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from edgeship import __version__
from edgeship.cli._common import HelpFormatter
from edgeship.errors import EdgeshipError

COMMAND_MODULES = (
    "train",
    "card",
    "convert",
    "inspect_artifact",
    "predict",
    "bench",
    "report",
    "compare",
    "serve",
    "pipeline",
    "worker",
)

DESCRIPTION = """\
edgeship takes a Keras model from training to a verified, measured edge artifact.

typical flow:
  edgeship pipeline --out runs/demo             # train on digits, convert, verify, bench, recommend
  edgeship train --recipe mnist-cnn --out runs/m
  edgeship convert runs/m/model.keras --to all --out runs/m/artifacts
  edgeship predict runs/m/artifacts/tflite-int8.tflite --input sample.npy
  edgeship bench runs/m/artifacts/*.tflite --threads 1,2 --json bench.json
  edgeship serve runs/m/artifacts
"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser.

    With ``command`` (a name from :data:`COMMAND_MODULES`) only that command's module is
    imported, which keeps the start of a command such as ``predict`` fast; without it every
    command is registered (for ``edgeship --help``).
    """
    parser = argparse.ArgumentParser(
        prog="edgeship",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edgeship {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = COMMAND_MODULES if command is None else (_module_name(command),)
    for name in modules:
        module = importlib.import_module(f"edgeship.cli.{name}")
        module.register(subparsers)
    return parser


def _module_name(command: str) -> str:
    return "inspect_artifact" if command == "inspect" else command


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named by ``argv`` when it is the first argument and a known one."""
    if argv and _module_name(argv[0]) in COMMAND_MODULES:
        return argv[0]
    return None


def _warning_printer(command: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints ``edgeship COMMAND: warning: MESSAGE`` once
    per message: no source path or code line, the same shape as the command's errors."""
    seen: set[str] = set()

    def show(message: Warning | str, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(message).split())
        if text not in seen:
            seen.add(text)
            print(f"edgeship {command}: warning: {text}", file=sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``edgeship`` command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)
            return int(args.func(args) or 0)
    except EdgeshipError as exc:
        print(f"edgeship {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"edgeship {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
