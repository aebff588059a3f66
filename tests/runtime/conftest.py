"""Runtime test fixtures: real artifacts built once per session in a separate process.

The builder (``build_artifacts.py``) imports TensorFlow; the tests themselves only use the
runtime and the interpreters, like a device would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
TFLITE_BACKENDS = ("litert", "tflite-runtime", "tf-lite")
TFLITE_VARIANTS = ("fp32", "fp16", "dynamic", "int8", "uint8", "int8_floatio", "fixed1")


@pytest.fixture(autouse=True)
def verdict_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A fresh, empty verification cache for every test (child processes inherit it)."""
    path = tmp_path_factory.mktemp("verdicts")
    monkeypatch.setenv("EDGESHIP_CACHE_DIR", str(path))
    return path


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the files validated in a child process (the validation itself still runs)."""
    from edgeship.runtime import verify as verify_mod

    calls: list[Path] = []
    real = verify_mod.validate_in_subprocess

    def spy(path: Path, backend: str = "auto", **kw):
        calls.append(path)
        return real(path, backend, **kw)

    monkeypatch.setattr("edgeship.runtime.validate_in_subprocess", spy)
    return calls


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of test artifacts (see build_artifacts.py for the list)."""
    out = tmp_path_factory.mktemp("runtime_artifacts")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, str(HERE / "build_artifacts.py"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building runtime test artifacts failed:\n{proc.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def digits(artifacts: Path) -> dict[str, np.ndarray]:
    """Digits inputs ``x`` (N, 8, 8, 1) float32 in [0, 1], labels ``y``, Keras outputs."""
    with np.load(artifacts / "data.npz") as data:
        return {k: data[k] for k in data.files}


def tflite_interpreter(backend: str, path: Path):
    """The backend's own Interpreter on ``path``, for raw side-by-side comparisons."""
    if backend == "litert":
        from ai_edge_litert.interpreter import Interpreter
    elif backend == "tflite-runtime":
        from tflite_runtime.interpreter import Interpreter
    else:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


def raw_tflite(backend: str, path: Path, x: np.ndarray) -> np.ndarray:
    """Run one input through the backend's interpreter with public calls only."""
    interp = tflite_interpreter(backend, path)
    inp = interp.get_input_details()[0]
    if tuple(inp["shape"]) != x.shape:
        interp.resize_tensor_input(inp["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])
