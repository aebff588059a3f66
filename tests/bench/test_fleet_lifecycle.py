"""How fleet processes start and end: a worker's exit status, a measuring child whose parent
is already gone, a local cluster that fails to start, and refused TLS addresses."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from edgeship.bench.worker import EXIT_WITH_PARENT_ENV
from edgeship.errors import ConfigError, FleetError
from edgeship.fleet import FleetTarget
from edgeship.fleet.cluster import check_address
from edgeship.fleet.local import LocalFleet

#: Starts its argv as a child with EDGESHIP_EXIT_WITH_PARENT naming itself, prints its own
#: pid and the child's and exits at once, leaving the child an orphan.
LAUNCHER = f"""
import os, subprocess, sys
env = dict(os.environ, {EXIT_WITH_PARENT_ENV}=str(os.getpid()))
log = open(os.environ["CHILD_LOG"], "wb")
child = subprocess.Popen(sys.argv[1:], env=env, stdout=log, stderr=log)
print(os.getpid(), child.pid, flush=True)
"""


def _ended(proc: psutil.Process, timeout: float) -> bool:
    """Whether ``proc`` ended within ``timeout`` s (a zombie nobody reaps counts as ended)."""
    try:
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    return True


def test_a_child_whose_parent_died_before_it_started_exits(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"artifact": str(tmp_path / "missing.tflite")}))
    child = [sys.executable, "-m", "edgeship.bench.worker", "cold", str(spec)]
    # control: with its parent alive the child runs and writes its (error) result
    alive_out = tmp_path / "alive.json"
    env = dict(os.environ, **{EXIT_WITH_PARENT_ENV: str(os.getpid())})
    done = subprocess.run([*child, str(alive_out)], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "missing.tflite" in json.loads(alive_out.read_text())["error"]
    # the same child started only after the parent that launched it has exited
    go, orphan_out = tmp_path / "go", tmp_path / "orphan.json"
    script = (
        f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.02; done; "
        f"exec {shlex.join([*child, str(orphan_out)])}"
    )
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, CHILD_LOG=str(tmp_path / "child.log")),
    )
    assert launched.returncode == 0, launched.stderr
    launcher_pid, orphan_pid = map(int, launched.stdout.split())
    orphan = psutil.Process(orphan_pid)
    try:
        assert orphan.ppid() != launcher_pid  # its parent is gone: init or a subreaper took it
        go.touch()
        assert _ended(orphan, timeout=60), "the orphaned child kept running"
    finally:
        if orphan.is_running() and orphan.status() != psutil.STATUS_ZOMBIE:
            orphan.kill()
    assert not orphan_out.exists(), (tmp_path / "child.log").read_text()


def test_a_worker_exits_0_when_stopped_and_1_when_it_loses_the_scheduler():
    with LocalFleet(["stopped", "lost"]) as fleet:
        stopped, lost = fleet.procs["stopped"], fleet.procs["lost"]
        stopped.terminate()
        assert stopped.wait(timeout=60) == 0, fleet.log("stopped")
        fleet.kill("scheduler")  # SIGKILL: the workers' connection breaks
        assert lost.wait(timeout=60) == 1, fleet.log("lost")
        log = fleet.log("lost")
    assert f"Lost the cluster at {fleet.address}" in log, log
    assert f"--cluster {fleet.address} --device lost" in log and "Traceback" not in log


def test_a_fleet_that_fails_to_start_stops_everything_and_removes_its_logs():
    fleet = LocalFleet(["broken"], backends={"broken": ["no-such-backend"]})
    logs = Path(fleet._logs.name)
    assert logs.is_dir()
    starting = pytest.raises(FleetError, match="broken exited with status 1 while starting")
    with starting as err, fleet:
        pass
    assert "no-such-backend" in str(err.value)
    assert set(fleet.procs) == {"scheduler", "broken"}
    assert all(proc.poll() is not None for proc in fleet.procs.values())
    assert not logs.exists()


def test_tls_addresses_are_refused_with_a_way_to_secure_the_link():
    for bad in ("tls://10.0.0.2:8786", " TLS://scheduler:8786"):
        with pytest.raises(ConfigError, match="TLS cluster addresses are not supported") as err:
            check_address(bad)
        assert "ssh -N -L 8786:localhost:8786" in str(err.value)
        assert "trusted network with tcp://HOST:PORT" in str(err.value)
    with pytest.raises(ConfigError, match="TLS cluster addresses"):
        FleetTarget("tls://10.0.0.2:8786", ("cpu-a",))
    worker = subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", "worker", "--cluster",
         "tls://127.0.0.1:8786", "--device", "cpu-a"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert worker.returncode == 1 and "TLS cluster addresses are not supported" in worker.stderr
    assert "SSH tunnel" in worker.stderr and "Traceback" not in worker.stderr
