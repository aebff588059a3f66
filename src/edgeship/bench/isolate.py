"""Run each configuration in its own child process; results come back as JSON.

A fresh process per configuration means one cannot warm caches, grow the heap or leave
threads behind for the next, and a backend that crashes (SIGSEGV, abort) fails one row,
recorded with its signal, never the whole sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeship.bench.records import BenchRow, ColdStarts
from edgeship.bench.spec import RunSpec
from edgeship.childproc import child_env as _env
from edgeship.childproc import signal_name
from edgeship.fileio import read_json

DEFAULT_TIMEOUT_S = 900.0


def error_row(spec_data: Mapping[str, Any], message: str, detail: str | None = None) -> BenchRow:
    """A result row for a configuration that failed, keeping its identifying fields."""
    try:
        from edgeship.bench.single import base_row

        row = base_row(RunSpec.from_dict(spec_data))
    except Exception:  # a spec that cannot be rebuilt: copy its fields as they were given

        def get(key: str, default: Any = None) -> Any:
            return spec_data.get(key, default)

        row = {
            "artifact": get("artifact"),
            "kind": get("kind"),
            "backend": get("backend"),
            "threads": get("threads"),
            "batch": get("batch"),
            "scenario": get("scenario"),
            "variant": Path(str(get("artifact", "?"))).stem,
            "error": None,
        }
    row.update({"error": message, "latency_ms": None, "accuracy": None})
    if detail:
        row["error_detail"] = detail
    return row


def child_env() -> dict[str, str]:
    """Environment for children: quiet TensorFlow logs, the parent's ``sys.path`` kept."""
    return _env([p for p in sys.path if p], TF_CPP_MIN_LOG_LEVEL="2")


def _describe_exit(code: int) -> str:
    name = signal_name(code)
    if name is not None:
        return f"the benchmark process was killed by {name}"
    return f"the benchmark process exited with status {code}"


def run_child(
    mode: str, spec_data: Mapping[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[Any, str | None, int]:
    """Run ``edgeship.bench.worker MODE`` on ``spec_data``.

    Returns:
        ``(output or None, error message or None, spawn time in time.time_ns())``.
    """
    with tempfile.TemporaryDirectory(prefix="edgeship-bench-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        out_path = Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec_data), encoding="utf-8")
        cmd = [sys.executable, "-m", "edgeship.bench.worker", mode, str(spec_path), str(out_path)]
        spawned = time.time_ns()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, env=child_env()
            )
        except subprocess.TimeoutExpired:
            return None, f"the benchmark process timed out after {timeout_s:g} s", spawned
        if out_path.is_file():
            return read_json(out_path), None, spawned
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        message = _describe_exit(proc.returncode)
        if tail:
            message += ": " + " | ".join(tail)
        return None, message, spawned


def run_isolated(spec: RunSpec, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[BenchRow]:
    """Run ``spec`` in a child process; returns its rows (an error row on any failure)."""
    data = spec.to_dict()
    out, error, _ = run_child("run", data, timeout_s)
    if error is not None or not isinstance(out, list):
        return [error_row(data, error or "the benchmark process wrote no result rows")]
    return out


def cold_starts(spec: RunSpec, count: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> ColdStarts:
    """Time ``count`` fresh processes from spawn to their first inference result.

    Returns:
        ``{"n", "ms": [...], "errors": [...]}``; summary statistics are added by the caller.
    """
    times: list[float] = []
    errors: list[str] = []
    for _ in range(count):
        out, error, spawned = run_child("cold", spec.to_dict(), timeout_s)
        if error is not None or not isinstance(out, dict) or "first_result_ns" not in out:
            errors.append(error or str(out))
            continue
        times.append((int(out["first_result_ns"]) - spawned) / 1e6)
    return {"n": len(times), "ms": times, "errors": errors}
