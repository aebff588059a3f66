"""A device worker killed in the middle of a measurement: its rows fail, the rest are saved,
and no process is left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from edgeship.bench import load_results
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
def doomed_fleet():
    fleet = LocalFleet(["cpu-a", "doomed"]).start()
    try:
        yield fleet
    finally:
        spawned = [p for pid in fleet.pids().values() for p in _descendants(pid)]
        fleet.stop()
        fleet._logs.cleanup()
        _, alive = psutil.wait_procs(spawned, timeout=10)
        assert alive == [], f"processes left behind: {alive}"


def test_a_worker_killed_mid_run_fails_its_rows_only(doomed_fleet, bench_artifacts, tmp_path):
    out = tmp_path / "fleet.json"
    bench = subprocess.Popen(
        [
            sys.executable, "-m", "edgeship.cli.main", "bench",
            str(bench_artifacts / "tflite-int8.tflite"), "--cluster", doomed_fleet.address,
            "--device", "cpu-a,doomed", "--runs", "5", "--min-seconds", "3",
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
