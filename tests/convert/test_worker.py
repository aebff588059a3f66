"""The converter child process: a crash fails one call, names the signal, and the next call
gets a fresh child. These calls never load a model, so no TensorFlow is started. The crash and
the hang are injected from the tests (``hooks.py``): the product has no test commands."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from edgeship.convert.worker import ConverterWorker, WorkerCrashed
from edgeship.errors import ConfigError

from .hooks import inject_worker_hooks


def test_crash_is_reported_with_signal_and_worker_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject_worker_hooks(monkeypatch)
    with ConverterWorker(tmp_path / "model.keras", None, tmp_path) as worker:
        with pytest.raises(WorkerCrashed, match="killed by SIGSEGV during 'test_signal'") as info:
            worker.call("test_signal", signum=int(signal.SIGSEGV))
        assert info.value.signal_name == "SIGSEGV"
        # the next call starts a new child; its typed errors come back typed
        with pytest.raises(ConfigError, match="Unknown worker command 'nope'"):
            worker.call("nope")
        assert worker.restarts == 1


def test_hung_call_is_stopped_after_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject_worker_hooks(monkeypatch)
    with ConverterWorker(tmp_path / "model.keras", None, tmp_path) as worker:
        # the call would hang for an hour: any timeout well short of that shows the stop
        with pytest.raises(WorkerCrashed, match=r"timed out after 3 s and was stopped"):
            worker.call("test_sleep", timeout=3, seconds=3600)
        assert worker.call("test_sleep", seconds=0) is None
        assert worker.restarts == 1


def test_the_product_ships_no_test_commands(tmp_path: Path) -> None:
    with ConverterWorker(tmp_path / "model.keras", None, tmp_path) as worker:
        for command in ("test_signal", "test_sleep", "selftest_signal", "selftest_sleep"):
            with pytest.raises(ConfigError, match=f"Unknown worker command '{command}'"):
                worker.call(command)
