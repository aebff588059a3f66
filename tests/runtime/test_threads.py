"""One Engine called from many threads gives the same answers as serial calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edgeship.runtime import load


@pytest.mark.parametrize("name", ["int8.tflite", "fp32.tflite", "fp32.onnx"])
def test_concurrent_predictions_match_serial(artifacts: Path, digits, name: str):
    x = digits["x"][:64]
    # Mixed batch sizes force the TFLite interpreter to resize between calls.
    batches = [x[i : i + 1 + (i % 5)] for i in range(48)]
    with load(artifacts / name, verify=False) as engine:
        serial = [engine.predict(b) for b in batches]
        with ThreadPoolExecutor(max_workers=8) as pool:
            parallel = list(pool.map(engine.predict, batches))
        assert engine._lock is None if name.endswith(".onnx") else engine._lock is not None
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


# In a fresh process: the OS threads alive while an engine with ``threads=k`` is loaded and has
# run, over those of the same engine with ``threads=1`` (one warm-up load first, so a backend's
# one-time threads are not counted). XNNPACK and ONNX Runtime start k - 1 pool threads.
THREAD_COUNT = """
import json, os, sys
import numpy as np
from edgeship.runtime import load

def alive():
    return len(os.listdir("/proc/self/task"))

path, backend, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.zeros((1, 8, 8, 1), np.float32)
counts = {}
for threads in (1, 1, k):
    before = alive()
    with load(path, backend=backend, threads=threads, verify=False) as engine:
        engine.predict(x)
        counts[threads] = alive() - before
print(json.dumps(counts))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
@pytest.mark.parametrize(
    ("name", "backend"),
    [("fp32.tflite", "litert"), ("int8.tflite", "litert"), ("fp32.onnx", "onnxruntime")],
)
def test_threads_start_that_many_backend_threads(artifacts: Path, name: str, backend: str):
    import json
    import subprocess
    import sys

    k = 4
    done = subprocess.run(
        [sys.executable, "-c", THREAD_COUNT, str(artifacts / name), backend, str(k)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts[str(k)] - counts["1"] >= k - 1, counts  # threads=k: k - 1 more pool threads
