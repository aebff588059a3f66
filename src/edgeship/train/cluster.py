"""The multi-worker cluster of a training run, read from ``TF_CONFIG``.

``TF_CONFIG`` is the JSON that every worker of a ``MultiWorkerMirroredStrategy`` run gets in
its environment: the same ``cluster`` everywhere, its own ``task``::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

This module checks it before any TensorFlow work (a mistake is a :class:`ConfigError` that
quotes the variable and shows the expected shape) and bounds the start of the cluster in
time: the coordination leader (``chief`` 0, else ``worker`` 0) waits at most
``peer_timeout`` seconds for every peer to listen, the others wait as long to register with
the leader. A peer that never answers is a :class:`TrainingError` naming its address.

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgeship.errors import ConfigError, TrainingError

JOBS = ("chief", "worker")
EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


@dataclass(frozen=True)
class Cluster:
    """One worker's view of the cluster.

    Attributes:
        jobs: job name (``chief``/``worker``) -> addresses (``host:port``) of its tasks.
        task_type: this process's job.
        task_index: this process's index within its job.
    """

    jobs: tuple[tuple[str, tuple[str, ...]], ...]
    task_type: str
    task_index: int

    @property
    def tasks(self) -> tuple[tuple[str, int, str], ...]:
        """Every task as ``(job, index, address)``, the chief first."""
        return tuple(
            (job, index, address)
            for job, addresses in sorted(self.jobs, key=lambda j: JOBS.index(j[0]))
            for index, address in enumerate(addresses)
        )

    @property
    def address(self) -> str:
        """This task's ``host:port``."""
        return dict(self.jobs)[self.task_type][self.task_index]

    @property
    def leader(self) -> tuple[str, int]:
        """The coordination leader ``(job, index)``: ``chief`` 0 if there is one, else
        ``worker`` 0 (where TensorFlow runs its coordination service)."""
        return self.tasks[0][:2]

    @property
    def is_leader(self) -> bool:
        """True for the task that hosts the coordination service."""
        return (self.task_type, self.task_index) == self.leader

    @property
    def is_chief(self) -> bool:
        """True for the task that writes the run's files (the leader)."""
        return self.is_leader

    @property
    def size(self) -> int:
        """Number of tasks (workers and chief) in the cluster."""
        return len(self.tasks)

    def name(self, job: str | None = None, index: int | None = None) -> str:
        """``worker 1 (host:port)`` for a task; this task when no argument is given."""
        job = self.task_type if job is None else job
        index = self.task_index if index is None else index
        return f"{job} {index} ({dict(self.jobs)[job][index]})"


def read_cluster(environ: Mapping[str, str] | None = None) -> Cluster | None:
    """Parse and check ``TF_CONFIG``; None when it is unset or empty (a one-worker run).

    Raises:
        ConfigError: the JSON is malformed or its cluster/task do not fit together.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw.strip():
        return None

    def bad(why: str) -> ConfigError:
        return ConfigError(
            f"TF_CONFIG is malformed: {why}. Expected JSON like {EXAMPLE} (the same cluster "
            f"on every worker, each with its own task index). Got: {raw!r}"
        )

    try:
        spec = json.loads(raw)
    except ValueError as exc:
        raise bad(f"not JSON ({exc})") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("cluster"), dict):
        raise bad("no 'cluster' object")
    cluster = spec["cluster"]
    unknown = sorted(set(cluster) - set(JOBS))
    if unknown:
        raise bad(f"jobs {unknown} are not supported (multi-worker training uses {list(JOBS)})")
    if not isinstance(cluster.get("worker"), list) or not cluster["worker"]:
        raise bad("cluster.worker must be a non-empty list of 'host:port' strings")
    jobs: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for job in JOBS:
        if job not in cluster:
            continue
        addresses = cluster[job]
        if not isinstance(addresses, list) or not addresses:
            raise bad(f"cluster.{job} must be a non-empty list of 'host:port' strings")
        if job == "chief" and len(addresses) != 1:
            raise bad(f"cluster.chief must hold exactly one address, got {len(addresses)}")
        for address in addresses:
            _check_address(address, bad)
            if address in seen:
                raise bad(f"address {address} appears twice")
            seen.add(address)
        jobs.append((job, tuple(addresses)))
    task = spec.get("task")
    if not isinstance(task, dict):
        raise bad("no 'task' object")
    if "type" not in task or "index" not in task:
        raise bad("task needs both 'type' (e.g. \"worker\") and 'index' (0, 1, ...)")
    task_type, index = task["type"], task["index"]
    if task_type not in dict(jobs):
        raise bad(f"task.type {task_type!r} is not a job of the cluster {sorted(dict(jobs))}")
    count = len(dict(jobs)[task_type])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise bad(f"task.index must be an integer in 0..{count - 1} for job {task_type!r}")
    return Cluster(jobs=tuple(jobs), task_type=task_type, task_index=index)


def _check_address(address: object, bad: Callable[[str], ConfigError]) -> None:
    if not isinstance(address, str) or address.count(":") < 1:
        raise bad(f"address {address!r} is not 'host:port'")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise bad(f"address {address!r} is not 'host:port' with a port in 1..65535")


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) -> ``(host, port)``."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def wait_for_peers(cluster: Cluster, timeout: float, poll: float = 0.2) -> None:
    """Leader only: wait until every other task listens on its address.

    Each peer opens its port when its own strategy starts; the leader's coordination service
    would otherwise wait for a missing peer without end.

    Raises:
        TrainingError: a peer did not listen within ``timeout`` seconds; names its address.
    """
    deadline = time.monotonic() + timeout
    for job, index, address in cluster.tasks:
        if (job, index) == (cluster.task_type, cluster.task_index):
            continue
        host, port = split_address(address)
        while True:
            try:
                with socket.create_connection((host, port), timeout=min(poll * 5, 2.0)):
                    break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise TrainingError(
                        unreachable_message(cluster, job, index, timeout, str(exc))
                    ) from exc
                time.sleep(poll)


def unreachable_message(cluster: Cluster, job: str, index: int, timeout: float, why: str) -> str:
    """The error text for a peer that could not be reached."""
    return (
        f"{cluster.name()} could not reach {cluster.name(job, index)} within {timeout:g} s "
        f"({why}). Expected every task of TF_CONFIG's cluster to run `edgeship train "
        f"--strategy multi-worker` with the same cluster and its own task. Start the "
        f"missing worker, check that {dict(cluster.jobs)[job][index]} is the right "
        "host:port and reachable from this machine (firewall), or allow more time with "
        "--peer-timeout."
    )
