"""The runtime flags every command that runs a model shares: one spelling, one meaning.

``--backend``, ``--threads``, ``--delegate``, ``--delegate-option``, ``--provider`` and
``--accelerator`` are added here for ``predict``, ``bench``, ``serve`` and ``pipeline``;
where a command measures several configurations (``bench``, ``pipeline``) ``--backend``
and ``--threads`` take comma-separated lists. Values are parsed by :mod:`edgeship.runtime_flags`.
"""

from __future__ import annotations

import argparse

from edgeship.runtime_flags import BACKEND_NAMES

_BACKENDS = ", ".join(("auto", *BACKEND_NAMES))


def add_runtime_flags(
    parser: argparse.ArgumentParser,
    *,
    several: bool = False,
    accelerators: bool = True,
    backend_choices: bool = False,
    backend_default: str | None = "auto",
    threads_default: str | None = None,
) -> None:
    """Add the runtime flags to ``parser``.

    Args:
        parser: the command's parser.
        several: ``--backend`` and ``--threads`` take comma-separated lists (kept as text).
        accelerators: add ``--delegate``, ``--delegate-option``, ``--provider`` and
            ``--accelerator`` (else none of them: see :func:`add_accelerator_flag`).
        backend_choices: let argparse reject an unknown single backend.
        backend_default: default of ``--backend``.
        threads_default: default of ``--threads`` (a list as text when ``several``).
    """
    if several:
        parser.add_argument(
            "--backend",
            default=backend_default,
            help=f"backends, comma-separated: {_BACKENDS} (each artifact runs on those of its "
            "format)",
        )
        parser.add_argument(
            "--threads",
            default=threads_default,
            help="thread counts, e.g. 1,2,4"
            + (f" (default {threads_default})" if threads_default else ""),
        )
    else:
        parser.add_argument(
            "--backend",
            default=backend_default,
            choices=("auto", *BACKEND_NAMES) if backend_choices else None,
            help=f"runtime backend: {_BACKENDS.replace(', ', '|')}",
        )
        parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    if not accelerators:
        return
    parser.add_argument(
        "--delegate", help="TFLite delegate: edgetpu, gpu or a delegate library path"
    )
    parser.add_argument(
        "--delegate-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="delegate option (repeatable)",
    )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE;...]",
        help="ONNX Runtime execution provider with options, in order of preference "
        "(repeatable; several names may be comma-separated, e.g. cuda,cpu)",
    )
    add_accelerator_flag(parser)


def add_accelerator_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--accelerator`` alone (``serve`` and ``pipeline`` take no delegate or provider)."""
    parser.add_argument(
        "--accelerator",
        metavar="DEVICE",
        help="device of the openvino backend (CPU|GPU|NPU|AUTO) or accelerator of the "
        "litert-compiled backend (cpu|gpu|npu); default: the CPU",
    )
