"""`edgeship serve ... --json` as a real process, for the tests that need one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def serve_env() -> dict[str, str]:
    """This environment with TensorFlow's log noise off (the server never imports it)."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def start_serve_cli(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``edgeship serve ARGS --json`` and return the process and its JSON banner.

    The caller stops the process. A process that prints no banner is killed and the test fails
    with what it printed.
    """
    cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", *args, "--json"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=serve_env()
    )
    assert proc.stdout is not None
    text = ""
    for _ in range(200):
        text += proc.stdout.readline()
        try:
            return proc, json.loads(text)
        except json.JSONDecodeError:
            continue
    proc.kill()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"no JSON banner from {cmd}: {text[-500:]} {err[-1500:]}")


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs (a test's clean-up after a failure), and reap it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
