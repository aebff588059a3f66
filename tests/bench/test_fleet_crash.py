"""A device worker killed in the middle of a measurement: its rows fail, the rest are saved,
and no process is left behind.

Every measuring child waits for a marker file (``EDGESHIP_TEST_HOLD_FILE``, a test-only hook of
``edgeship.bench.worker``), so the doomed device is caught mid-run whatever the machine's speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from edgeship.bench import load_results
from edgeship.bench.worker import HOLD_FILE_ENV
from edgeship.fleet.local import LocalFleet


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _measuring(pid: int) -> list[psutil.Process]:
    """The bench children (``python -m edgeship.bench.worker``) of process ``pid``."""
    out = []
    for proc in _descendants(pid):
        try:
            if "edgeship.bench.worker" in proc.cmdline():
                out.append(proc)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture
def hold_file(tmp_path):
    """The marker file that lets the fleet's measuring children go on."""
    return tmp_path / "go"


@pytest.fixture
def doomed_fleet(hold_file):
    fleet = LocalFleet(["cpu-a", "doomed"], env={HOLD_FILE_ENV: str(hold_file)}).start()
    try:
        yield fleet
    finally:
        hold_file.touch()  # no child waits for a marker that a failed test never wrote
        spawned = [p for pid in fleet.pids().values() for p in _descendants(pid)]
        fleet.stop()
        fleet._logs.cleanup()
        _, alive = psutil.wait_procs(spawned, timeout=10)
        assert alive == [], f"processes left behind: {alive}"


def test_a_worker_killed_mid_run_fails_its_rows_only(
    doomed_fleet, hold_file, bench_artifacts, tmp_path
):
    out = tmp_path / "fleet.json"
    bench = subprocess.Popen(
        [
            sys.executable, "-m", "edgeship.cli.main", "bench",
            str(bench_artifacts / "tflite-int8.tflite"), "--cluster", doomed_fleet.address,
            "--device", "cpu-a,doomed", "--runs", "5", "--min-seconds", "0.02",
            "--warmup-seconds", "0.01", "--json", str(out), "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )  # fmt: skip
    try:
        worker = doomed_fleet.pids()["doomed"]
        deadline = time.monotonic() + 60
        while not (measuring := _measuring(worker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert measuring, "the doomed device never started measuring"
        doomed_fleet.kill("doomed")  # SIGKILL: no chance to clean up
        hold_file.touch()  # cpu-a measures; the doomed device's child is already orphaned
        _, stderr = bench.communicate(timeout=90)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 1, stderr
    rows = {r["device"]: r for r in load_results(out)["results"]}
    assert rows["cpu-a"]["error"] is None and rows["cpu-a"]["latency_ms"]["n"] >= 5
    assert (
        "the worker of device 'doomed' left the cluster during the run" in rows["doomed"]["error"]
    )
    assert "1 of 2 configurations failed" in stderr and "Traceback" not in stderr
    # the measurement that lost its worker ends by itself
    _, alive = psutil.wait_procs(measuring, timeout=10)
    assert alive == []
