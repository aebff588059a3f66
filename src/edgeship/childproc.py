"""What every child process edgeship starts shares: its environment and how its end is named.

Verify (one load in a child), convert (the converter worker) and bench (one process per
configuration) each speak their own protocol with their child; they start it with
:func:`child_env` and name a crash with :func:`signal_name`. Standard library only.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from pathlib import Path

#: The folder holding this ``edgeship`` package (``src`` of a checkout, or site-packages).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def child_env(paths: Iterable[str] = (PACKAGE_ROOT,), **defaults: str) -> dict[str, str]:
    """This process's environment for a child that imports this very edgeship.

    Args:
        paths: put first on the child's ``PYTHONPATH`` (the parent's ``PYTHONPATH`` follows).
        defaults: variables set when the environment does not set them already
            (e.g. ``TF_CPP_MIN_LOG_LEVEL="2"``).
    """
    env = dict(os.environ)
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*paths, env.get("PYTHONPATH")) if p)
    return env


def signal_name(returncode: int | None) -> str | None:
    """``"SIGSEGV"`` for a child killed by a signal (a negative return code), else None."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
