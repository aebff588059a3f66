"""The runtime under numpy 2: same answers as under this process's numpy.

Runs when ``EDGESHIP_NUMPY2_PYTHON`` names a Python whose environment has numpy>=2 and the
backends (e.g. ``python -m venv np2 && np2/bin/pip install 'numpy>=2' ai-edge-litert
onnxruntime``); edgeship itself is taken from this checkout's ``src``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeship.runtime import load

PYTHON = os.environ.get("EDGESHIP_NUMPY2_PYTHON")
SRC = Path(__file__).resolve().parents[2] / "src"
MODELS = ("fp32.tflite", "int8.tflite", "uint8.tflite", "dynamic.tflite", "fp32.onnx", "qdq.onnx")

SCRIPT = """
import json, sys
import numpy as np
from edgeship.errors import InvalidInputError
from edgeship.runtime import load
x = np.load(sys.argv[1])
out = {"numpy": np.__version__}
for name in sys.argv[3:]:
    with load(sys.argv[2] + "/" + name, verify=False) as engine:
        out[name] = [engine.predict(x).tolist(), engine.predict(x[:1]).tolist()]
        try:
            engine.predict(x[0])
        except InvalidInputError as exc:
            out[name].append(str(exc))
import importlib.util
if importlib.util.find_spec("tflite_runtime"):  # 2.14 is built against numpy 1
    from edgeship.errors import BackendError
    try:
        load(sys.argv[2] + "/fp32.tflite", backend="tflite-runtime", verify=False)
        out["tflite_runtime"] = "loaded"
    except BackendError as exc:
        out["tflite_runtime"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.skipif(not PYTHON, reason="set EDGESHIP_NUMPY2_PYTHON to a numpy-2 Python")
def test_same_outputs_under_numpy2(artifacts: Path, digits, tmp_path: Path):
    x = digits["x"][:6]
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run(
        [PYTHON, "-c", SCRIPT, str(tmp_path / "x.npy"), str(artifacts), *MODELS],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert int(got["numpy"].split(".")[0]) >= 2
    for name in MODELS:
        with load(artifacts / name, verify=False) as engine:
            np.testing.assert_array_equal(np.asarray(got[name][0], np.float32), engine.predict(x))
            np.testing.assert_array_equal(
                np.asarray(got[name][1], np.float32), engine.predict(x[:1])
            )
        assert "add a batch axis" in got[name][2]
    if "tflite_runtime" in got:
        assert got["tflite_runtime"] == "loaded" or "install 'numpy<2'" in got["tflite_runtime"]
