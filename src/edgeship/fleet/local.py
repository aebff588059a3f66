"""A cluster of labelled workers on this machine: a scheduler plus one process per label.

Used by ``make fleet-demo``, the tests and the benchmarks; every process it starts is
stopped on exit, also after an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from edgeship.errors import FleetError
from edgeship.fleet.labels import check_label
from edgeship.netutil import free_port


class LocalFleet:
    """Start a scheduler and one ``edgeship worker`` per label on localhost.

    Args:
        labels: device labels, one worker each.
        backends: per label, the backends to offer (default: all installed).
        start_timeout_s: seconds for the scheduler and every worker to be up.
        env: extra environment of the processes.
        pythons: per label, the Python interpreter of its worker (default: this one), e.g. a
            small device environment without TensorFlow.

    Example:
        >>> with LocalFleet(["cpu-a", "cpu-b"]) as fleet:  # doctest: +SKIP
        ...     print(fleet.address)
    """

    def __init__(
        self,
        labels: list[str] | tuple[str, ...],
        backends: dict[str, list[str]] | None = None,
        start_timeout_s: float = 60.0,
        env: dict[str, str] | None = None,
        pythons: dict[str, str] | None = None,
    ) -> None:
        self.labels = tuple(check_label(label) for label in labels)
        self.backends = backends or {}
        self.start_timeout_s = start_timeout_s
        self.env = env or {}
        self.pythons = pythons or {}
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs = tempfile.TemporaryDirectory(prefix="edgeship-fleet-logs-")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        from edgeship.bench.isolate import child_env

        # this interpreter's sys.path would leak its packages into another interpreter
        env = child_env() if cmd[0] == sys.executable else dict(os.environ)
        log = open(Path(self._logs.name) / f"{name}.log", "wb")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env | self.env
        )
        log.close()

    def log(self, name: str) -> str:
        """The output of process ``name`` (``scheduler`` or a label) so far."""
        path = Path(self._logs.name) / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def start(self) -> LocalFleet:
        """Start everything and wait until every label is in the cluster."""
        port = self.address.rsplit(":", 1)[1]
        scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        self._spawn("scheduler", [*scheduler, "--host", "127.0.0.1", "--port", port])
        try:
            for label in self.labels:
                python = self.pythons.get(label, sys.executable)
                cmd = [python, "-m", "edgeship.cli.main", "worker"]
                cmd += ["--cluster", self.address, "--device", label]
                if label in self.backends:
                    cmd += ["--backends", ",".join(self.backends[label])]
                self._spawn(label, cmd)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        from edgeship.fleet.cluster import connect, devices

        deadline = time.monotonic() + self.start_timeout_s
        client: Any = None
        try:
            while time.monotonic() < deadline:
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
                if dead:
                    raise FleetError(
                        f"{dead[0]} exited with status {self.procs[dead[0]].returncode} while "
                        f"starting: {self.log(dead[0])[-600:]}"
                    )
                if client is None:
                    try:
                        client = connect(self.address, timeout_s=2.0)
                    except FleetError:
                        time.sleep(0.2)
                        continue
                if set(self.labels) <= set(devices(client)):
                    return
                time.sleep(0.2)
        finally:
            if client is not None:
                client.close()
        raise FleetError(
            f"The local cluster at {self.address} was not ready within "
            f"{self.start_timeout_s:g} s. Scheduler log: {self.log('scheduler')[-600:]}"
        )

    def kill(self, name: str) -> None:
        """Kill process ``name`` (a label or ``scheduler``) at once, as a crash would."""
        proc = self.procs[name]
        proc.kill()
        proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop every process started here: workers first, then the scheduler."""
        order = [n for n in self.procs if n != "scheduler"] + ["scheduler"]
        for name in order:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for name in order:
            proc = self.procs.get(name)
            if proc is None:
                continue
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def pids(self) -> dict[str, int]:
        """Process ids by name."""
        return {name: proc.pid for name, proc in self.procs.items()}

    def __enter__(self) -> LocalFleet:
        try:
            return self.start()
        except BaseException:
            self._logs.cleanup()  # start() stopped the processes; __exit__ will not run
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._logs.cleanup()
