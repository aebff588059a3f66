"""Test-only converter-child commands, injected from the tests (the product ships none).

A test puts this folder on the child's ``PYTHONPATH`` (``tests/convert/hooks.py``); Python
imports ``sitecustomize`` at start-up, and this module registers, in the child's own handler
table:

- ``test_signal(signum)``: the child kills itself with ``signum`` (a converter crash);
- ``test_sleep(seconds)``: the child sleeps (a hung converter call);
- ``test_write_later(path, seconds)``: the child sleeps, then writes ``path`` (a converter
  that writes its artifact after a long conversion);
- with ``EDGESHIP_TEST_CONVERT_DELAY=SECONDS`` set, every ``convert`` call first sleeps that
  long (a conversion slow enough to interrupt, e.g. with SIGINT).
"""

from __future__ import annotations

import os
import time
from typing import Any

from edgeship.convert import handlers


def _test_signal(state: Any, signum: int) -> None:
    os.kill(os.getpid(), signum)


def _test_sleep(state: Any, seconds: float) -> None:
    time.sleep(seconds)


def _test_write_later(state: Any, path: str, seconds: float) -> None:
    time.sleep(seconds)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("written by the converter child")


handlers._HANDLERS["test_write_later"] = _test_write_later
handlers._HANDLERS["test_signal"] = _test_signal
handlers._HANDLERS["test_sleep"] = _test_sleep

_DELAY = float(os.environ.get("EDGESHIP_TEST_CONVERT_DELAY") or 0)
if _DELAY > 0:
    _convert = handlers._HANDLERS["convert"]

    def _slow_convert(state: Any, **kwargs: Any) -> Any:
        time.sleep(_DELAY)
        return _convert(state, **kwargs)

    handlers._HANDLERS["convert"] = _slow_convert
