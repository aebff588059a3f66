"""Bench fixtures: tiny .tflite / .onnx artifacts built once per session in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).parent

#: Short stopping rules keep the tests fast; the loop logic itself is tested on a fake clock.
FAST = {
    "min_runs": 5,
    "min_seconds": 0.02,
    "warmup_runs": 1,
    "warmup_seconds": 0.01,
    "repeats": 1,
}


@pytest.fixture(scope="session")
def bench_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory with model.keras, tflite-fp32/int8 .tflite, onnx-fp32.onnx, eval.npz."""
    out = tmp_path_factory.mktemp("bench_artifacts")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    subprocess.run(
        [sys.executable, str(HERE / "build_fixtures.py"), str(out)],
        check=True,
        env=env,
        timeout=600,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def expected(bench_artifacts: Path) -> dict[str, float]:
    """What the build script measured with Keras (accuracy on eval.npz)."""
    return json.loads((bench_artifacts / "expected.json").read_text())


class FakeClock:
    """Callable clock in nanoseconds; ``work(ms)`` returns a function that advances it."""

    def __init__(self) -> None:
        self.now = 0
        self.calls = 0

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns

    def work(self, *durations_ms: float) -> Callable[[], None]:
        """A fake inference taking ``durations_ms`` in turn (cycled)."""
        steps: Sequence[float] = durations_ms

        def run() -> None:
            self.advance(int(steps[self.calls % len(steps)] * 1_000_000))
            self.calls += 1

        return run

    def wait(self, deadline_ns: int) -> None:
        """Sleep until ``deadline_ns`` (instantly)."""
        self.now = max(self.now, deadline_ns)


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock at 0 ns."""
    return FakeClock()


@pytest.fixture
def fast() -> dict[str, float]:
    """Short stopping-rule settings for BenchConfig."""
    return dict(FAST)
