"""Training on JAX and PyTorch: every recipe, conversion parity, data parallel, resume after a
kill, and a run where TensorFlow cannot be imported at all.

The test process's Keras runs on TensorFlow, so these runs go through the child process of
:mod:`edgeship.train.child` (or a command of their own).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgeship.train import TrainConfig, train
from edgeship.train.backends import BACKEND_NAMES, BACKENDS, get_backend

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")  # this process's Keras: TensorFlow's

SMALL = {"epochs": 1, "batch_size": 32, "max_samples": 150, "verbose": 0, "seed": 0}
RECIPES = [
    ("mnist-cnn", "digits", {}),
    ("lenet5", "digits", {"augment": True}),
    ("alexnet-small", "digits", {}),
    ("vgg-small", "digits", {}),
    ("mobilenetv2", "digits", {"image_size": (32, 32)}),
    ("lstm", "digits-seq", {}),
]
CONVERTED = ("mnist-cnn", "lstm")  # the fastest two also go through convert


def _trainers() -> list[object]:
    params = []
    for name in BACKEND_NAMES:
        if name == "tensorflow":
            continue  # trained in every other training test
        entry = BACKENDS[name]
        marks = (
            []
            if _installed(entry.import_name)
            else [pytest.mark.skip(reason=f"{entry.import_name} missing")]
        )
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def _installed(module: str) -> bool:
    from edgeship._lazy import is_available

    return is_available(module)


TRAINERS = _trainers()


@pytest.mark.filterwarnings("ignore:mobilenetv2. no --weights:UserWarning")
@pytest.mark.parametrize("backend", TRAINERS)
@pytest.mark.parametrize(("recipe", "dataset", "extra"), RECIPES, ids=[r[0] for r in RECIPES])
def test_every_recipe_trains_and_converts(
    backend: str, recipe: str, dataset: str, extra: dict, tmp_path: Path
) -> None:
    result = train(
        TrainConfig(
            backend=backend, recipe=recipe, dataset=dataset, out=str(tmp_path), **SMALL, **extra
        )
    )
    training = result.card.training
    assert training["backend"] == backend
    assert training["backend_version"]
    assert training["device"] == "CPU"
    assert training["epochs_run"] == 1
    assert 0.0 <= result.test_accuracy <= 1.0
    for name in ("model.keras", "edgeship.json", "history.csv", "calibration.npz", "eval.npz"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "backup").exists()  # a finished run removes its backup
    if recipe not in CONVERTED:
        return
    from edgeship.convert import convert

    manifest = convert(result.model_path, tmp_path / "artifacts", variants="tflite-fp32,onnx-fp32")
    variants = {v["name"]: v for v in manifest["variants"]}
    for variant in ("tflite-fp32", "onnx-fp32"):
        assert variants[variant]["status"] == "ok", variants[variant]
        parity = variants[variant]["parity"]
        assert parity["max_abs_error"] < 1e-4, (variant, parity)
        assert parity["top1_agreement"] == 1.0


def test_jax_trains_where_tensorflow_cannot_be_imported(tmp_path: Path) -> None:
    """`edgeship train --backend jax` in a process whose every tensorflow import fails."""
    pytest.importorskip("jax")
    script = textwrap.dedent(
        f"""
        import sys

        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)")

        sys.meta_path.insert(0, NoTensorFlow())
        from edgeship.cli.main import main

        code = main(["train", "--backend", "jax", "--epochs", "1", "--max-samples", "150",
                     "--out", {str(tmp_path)!r}, "--json"])
        print("TF_LOADED", "tensorflow" in sys.modules)
        sys.exit(code)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TF_LOADED False" in proc.stdout
    card = json.loads((tmp_path / "edgeship.json").read_text())
    assert card["training"]["backend"] == "jax"


def test_jax_data_parallel_on_two_host_devices_matches_one_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("jax")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    settings = {"backend": "jax", "epochs": 4, "batch_size": 32, "verbose": 0, "seed": 0}
    one = train(TrainConfig(out=str(tmp_path / "one"), **settings))
    two = train(TrainConfig(out=str(tmp_path / "two"), strategy="mirrored", **settings))
    assert two.card.training["replicas"] == 2
    assert two.card.training["global_batch_size"] == 64
    assert one.card.training["replicas"] == 1
    assert one.test_accuracy > 0.8
    assert abs(two.test_accuracy - one.test_accuracy) <= 0.02


def test_jax_data_parallel_refuses_devices_it_does_not_have(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    from edgeship.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Data parallel devices \['cpu:7'\] do not exist"):
        train(
            TrainConfig(
                backend="jax", strategy="mirrored", devices=("cpu:7",), out=str(tmp_path), **SMALL
            )
        )


def test_jax_run_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    """A real SIGKILL after two epochs; the next run continues from the backup."""
    pytest.importorskip("jax")
    out = tmp_path / "run"
    cmd = [
        *(sys.executable, "-m", "edgeship.cli.main", "train", "--backend", "jax"),
        *("--batch-size", "8", "--patience", "0", "--out", str(out), "--quiet"),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    victim = subprocess.Popen([*cmd, "--epochs", "40"], env=env)
    deadline = time.monotonic() + 400
    try:
        while not list((out / "backup").glob("epoch-00000[2-9]")):
            assert victim.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no backup of epoch 2 in time"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (out / "model.keras").exists()
    done = int(next((out / "backup").glob("epoch-*")).name.split("-")[1])
    proc = subprocess.run(
        [*cmd, "--epochs", str(done + 2)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    training = json.loads((out / "edgeship.json").read_text())["training"]
    assert training["resumed_from_epoch"] == done
    assert training["epochs_run"] == 2  # only the epochs after the backup ran again
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + done + 2  # header, the epochs before the kill, the two after
    assert not (out / "backup").exists()


def test_card_names_backend_device_precision_and_jit(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    result = train(
        TrainConfig(backend="jax", precision="mixed_bfloat16", out=str(tmp_path), **SMALL)
    )
    training = result.card.training
    assert training["backend"] == "jax"
    assert training["backend_version"] == _version("jax")
    assert training["device"] == "CPU"
    assert training["precision"] == "mixed_bfloat16"
    assert training["saved_precision"] == "float32"
    assert training["jit_compiled"] is True  # JAX compiles every step with XLA
    assert get_backend("jax").jit_compile(False) is True


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
