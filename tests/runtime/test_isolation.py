"""The runtime never imports TensorFlow or Keras, and works from a bare child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.hosts import needs_tflite_runtime

CODE = """
import json, sys
import numpy as np
import edgeship.runtime as rt
from edgeship.runtime import load
backends = rt.available_backends()
if any(m in sys.modules for m in ("ai_edge_litert", "tflite_runtime", "onnxruntime")):
    raise SystemExit("available_backends() imported a backend package")
with load({path!r}, backend={backend!r}) as engine:
    out = engine.predict(np.zeros((2, 8, 8, 1), np.float32))
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "tensorboard", "jax", "torch")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({{"shape": list(out.shape), "heavy": heavy, "backends": sorted(backends)}}))
"""


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        ("int8.tflite", "auto"),
        pytest.param("fp32.tflite", "tflite-runtime", marks=needs_tflite_runtime),
        ("qdq.onnx", "auto"),
    ],
)
def test_load_and_predict_without_tensorflow(artifacts: Path, name: str, backend: str):
    code = CODE.format(path=str(artifacts / name), backend=backend)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [2, 10]
    assert result["heavy"] == []
    assert "litert" in result["backends"]


def test_cli_predict_does_not_import_tensorflow(artifacts: Path, tmp_path: Path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1), np.float32))
    code = (
        "import sys, json\n"
        "from edgeship.cli.main import main\n"
        f"rc = main(['predict', {str(artifacts / 'int8.tflite')!r}, '--input', "
        f"{str(tmp_path / 'x.npy')!r}, '--json'])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "heavy": []}
