"""Inject test-only behaviour into the converter child from the tests, never from ``src``.

``inject_worker_hooks(monkeypatch)`` puts ``child_plugins/`` on the ``PYTHONPATH`` that every
converter child inherits; its ``sitecustomize`` adds the ``test_signal``/``test_sleep``
commands and, with ``convert_delay``, makes each ``convert`` call sleep first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent / "child_plugins"


def inject_worker_hooks(monkeypatch: pytest.MonkeyPatch, convert_delay: float = 0.0) -> None:
    """Make converter children started after this call load the test plugins."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(PLUGINS), path) if p))
    if convert_delay > 0:
        monkeypatch.setenv("EDGESHIP_TEST_CONVERT_DELAY", str(convert_delay))
    else:
        monkeypatch.delenv("EDGESHIP_TEST_CONVERT_DELAY", raising=False)
