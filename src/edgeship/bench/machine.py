"""What the benchmark ran on: CPU, cores, OS, versions, git commit, timer, memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from edgeship.bench.records import EnvBlock
from edgeship.bench.timer import loop_floor_ns, timer_resolution_ns
from edgeship.versions import installed_versions

EXTRA_PACKAGES = ("mlcommons-loadgen", "matplotlib")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus() -> list[int] | None:
    """CPUs this process may run on (its affinity), or None where unknown."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    return sorted(getter(0))


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit of ``cwd`` (or of the current directory), with ``+dirty`` if modified."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if status.stdout.strip() else "")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss``
    survives ``exec``, so a worker started from a big parent (one that imported TensorFlow)
    would report the parent's peak. Elsewhere ``getrusage`` (KiB on Linux, bytes on macOS).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB (falls back to the peak off Linux)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def environment(extra: EnvBlock | None = None) -> EnvBlock:
    """The ``env`` block of a results file.

    Returns:
        CPU model, logical and usable cores, OS, Python, package versions, git commit, UTC
        time, perf_counter's declared and observed resolution, and ``extra``.
    """
    info = time.get_clock_info("perf_counter")
    cpus = usable_cpus()
    env: EnvBlock = {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(cpus) if cpus is not None else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "versions": installed_versions() | _extra_versions(),
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timer": {
            "name": "perf_counter_ns",
            "implementation": info.implementation,
            "declared_resolution_ns": info.resolution * 1e9,
            "observed_resolution_ns": timer_resolution_ns(),
            "loop_floor_ns": loop_floor_ns(),
        },
    }
    env.update(extra or {})
    return env


def _extra_versions() -> dict[str, str]:
    from edgeship.versions import package_version

    return {name: v for name in EXTRA_PACKAGES if (v := package_version(name))}
