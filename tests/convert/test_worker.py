"""The converter child process: a crash fails one call, names the signal, and the next call
gets a fresh child. These calls never load a model, so no TensorFlow is started."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from edgeship.convert.worker import ConverterWorker, WorkerCrashed
from edgeship.errors import ConfigError


def test_crash_is_reported_with_signal_and_worker_restarts(tmp_path: Path) -> None:
    with ConverterWorker(tmp_path / "model.keras", None, tmp_path) as worker:
        with pytest.raises(
            WorkerCrashed, match="killed by SIGSEGV during 'selftest_signal'"
        ) as info:
            worker.call("selftest_signal", signum=int(signal.SIGSEGV))
        assert info.value.signal_name == "SIGSEGV"
        # the next call starts a new child; its typed errors come back typed
        with pytest.raises(ConfigError, match="Unknown worker command 'nope'"):
            worker.call("nope")
        assert worker.restarts == 1


def test_hung_call_is_stopped_after_its_timeout(tmp_path: Path) -> None:
    with ConverterWorker(tmp_path / "model.keras", None, tmp_path) as worker:
        with pytest.raises(WorkerCrashed, match=r"timed out after 0\.5 s and was stopped"):
            worker.call("selftest_sleep", timeout=0.5, seconds=30)
        assert worker.call("selftest_sleep", seconds=0) is None
