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


PARENT = """
import sys
from pathlib import Path
from edgeship.convert.worker import ConverterWorker

tmp = Path(sys.argv[1])
with ConverterWorker(tmp / "model.keras", None, tmp) as worker:
    worker.call("test_sleep", seconds=0)  # the child is up
    print(worker._process.pid, flush=True)
    worker.call("test_write_later", timeout=None, path=str(tmp / "late.txt"), seconds=2.0)
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has stopped running)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_child_dies_with_a_parent_killed_outright(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the parent takes the converter child with it: nothing is written later."""
    import os
    import subprocess
    import sys
    import time

    inject_worker_hooks(monkeypatch)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())  # the child is about to sleep, then write
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
        time.sleep(2.5)  # past the moment the child would have written
        assert not (tmp_path / "late.txt").exists()
    finally:
        if parent.poll() is None:
            parent.kill()
