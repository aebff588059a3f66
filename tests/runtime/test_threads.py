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
