"""What every child process edgeship starts shares: its environment and how its end is named.

Verify (one load in a child), convert (the converter worker) and bench (one process per
configuration) each speak their own protocol with their child; they start it with
:func:`child_env` and name a crash with :func:`signal_name`. A child calls
:func:`die_with_parent` first thing, so that a parent killed outright (``kill -9``) takes it
along instead of leaving it to finish work (and write files) nobody waits for. Standard
library only.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

#: The folder holding this ``edgeship`` package (``src`` of a checkout, or site-packages).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])

#: The environment variable holding the pid of the process that started a child.
PARENT_PID_VAR = "EDGESHIP_PARENT_PID"

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
    env[PARENT_PID_VAR] = str(os.getpid())
    return env


def die_with_parent() -> bool:
    """Have the kernel kill this process with SIGKILL when its parent dies (Linux).

    Uses ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. A parent that died before the call is caught
    by comparing ``os.getppid()`` with the pid :func:`child_env` recorded: this process then
    exits at once. Note that the signal follows the parent *thread* that started the child.

    Returns:
        True when the death signal is set; False where the OS has no ``prctl`` (nothing is
        changed there).
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    expected = os.environ.get(PARENT_PID_VAR)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        os._exit(1)  # the parent is already gone: nobody will read what this process does
    return True


def signal_name(returncode: int | None) -> str | None:
    """``"SIGSEGV"`` for a child killed by a signal (a negative return code), else None."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
