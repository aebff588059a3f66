"""The training loop: atomic outputs, refusals before training, precision, XLA, strategies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import ArtifactExistsError, ConfigError, TrainingError
from edgeship.samples import load_samples


def test_existing_model_is_not_replaced_without_force(tmp_path: Path, quick_config) -> None:
    from edgeship.train import train

    (tmp_path / "model.keras").write_bytes(b"previous run")
    with pytest.raises(ArtifactExistsError, match=r"model\.keras already exists"):
        train(quick_config(tmp_path))
    assert (tmp_path / "model.keras").read_bytes() == b"previous run"


def test_failed_run_leaves_no_model(
    tmp_path: Path, quick_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails mid-training writes neither model.keras nor history.csv.

    The non-finite loss is injected (a real Keras fit whose loss is NaN from the first batch):
    a huge learning rate only diverges on some processors, depending on oneDNN and the CPU.
    """
    import keras

    from edgeship.train import loop, train

    def compile_with_nan_loss(model, learning_rate: float, jit: bool) -> None:
        def nan_loss(y_true, y_pred):
            return keras.ops.mean(y_pred) * float("nan")

        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=nan_loss)

    monkeypatch.setattr(loop, "compile_classifier", compile_with_nan_loss)
    with pytest.raises(TrainingError, match="Training loss is not finite"):
        train(quick_config(tmp_path, epochs=2))
    assert not (tmp_path / "model.keras").exists()
    assert not (tmp_path / "history.csv").exists()
    assert not list(tmp_path.glob(".*partial"))


def test_model_save_is_atomic(tmp_path: Path) -> None:
    from edgeship.train.cardgen import save_model_atomic

    class Interrupted:
        def save(self, path: Path) -> None:
            Path(path).write_bytes(b"half a zip")
            raise KeyboardInterrupt

    target = tmp_path / "model.keras"
    with pytest.raises(KeyboardInterrupt):
        save_model_atomic(Interrupted(), target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_batch_that_cannot_fit_in_memory_is_refused() -> None:
    from edgeship.train.distribute import check_batch_memory

    with pytest.raises(ConfigError, match="Use a smaller --batch-size"):
        check_batch_memory((4096, 4096, 3), 100_000)
    check_batch_memory((8, 8, 1), 64)


def test_mixed_precision_on_cpu(tmp_path: Path, quick_config) -> None:
    import keras

    from edgeship.train import train

    before = keras.config.dtype_policy().name
    result = train(quick_config(tmp_path, recipe="lenet5", precision="mixed_float16"))
    assert keras.config.dtype_policy().name == before  # global policy restored
    assert result.card.training["precision"] == "mixed_float16"
    assert result.card.training["saved_precision"] == "float32"
    assert result.card.outputs[0].dtype == "float32"
    assert np.isfinite(result.history["loss"]).all()
    # trained in 16-bit; the saved model is the float32 twin (TFLite has no fp16 Conv2D)
    model = keras.saving.load_model(result.model_path, compile=False)
    assert model.get_layer("c1").compute_dtype == "float32"
    evals = load_samples(tmp_path / "eval.npz")
    probs = np.asarray(model.predict(evals.single, verbose=0))
    accuracy = float(np.mean(probs.argmax(axis=1) == evals.labels))
    assert accuracy == pytest.approx(result.test_accuracy, abs=1e-6)


def test_float32_twin_has_the_same_weights() -> None:
    import keras

    from edgeship.train.distribute import float32_copy, precision_policy
    from edgeship.train.recipes import mnist_cnn

    with precision_policy("mixed_bfloat16"):
        mixed = mnist_cnn.build((8, 8, 1), 10)
    assert mixed.get_layer("conv1").compute_dtype == "bfloat16"
    assert mixed.get_layer("probabilities").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    twin = float32_copy(mixed, lambda: mnist_cnn.build((8, 8, 1), 10))
    assert twin.get_layer("conv1").compute_dtype == "float32"
    for a, b in zip(mixed.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(mixed(x), twin(x), atol=0.05)


def test_xla_jit_on_cpu(tmp_path: Path, quick_config) -> None:
    from edgeship.train import train

    config = quick_config(tmp_path, recipe="lenet5", jit=True, epochs=3, max_samples=None)
    result = train(config)
    assert result.card.training["jit"] is True
    assert np.isfinite(result.history["loss"]).all()
    # the compiled step trains: loss falls and the model beats chance (0.1) by far
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.test_accuracy > 0.4


def test_unknown_mirrored_device(tmp_path: Path, quick_config) -> None:
    from edgeship.train import train

    with pytest.raises(ConfigError, match=r"Mirrored devices \['/gpu:7'\] do not exist"):
        train(quick_config(tmp_path, strategy="mirrored", devices=("/gpu:7",)))


def test_malformed_tf_config(tmp_path: Path, quick_config, monkeypatch) -> None:
    from edgeship.train import train

    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is malformed"):
        train(quick_config(tmp_path, strategy="multi-worker"))


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    from edgeship.train import TrainConfig, train
    r = train(TrainConfig(recipe="lenet5", dataset="digits", epochs=1, batch_size=16,
                          max_samples=120, out=sys.argv[1], strategy="mirrored",
                          devices=("/cpu:0", "/cpu:1"), verbose=0))
    outputs = [list(t.shape) for t in r.card.outputs]
    print(json.dumps({"replicas": r.card.training["replicas"],
                      "global_batch": r.card.training["global_batch_size"],
                      "loss": r.history["loss"], "outputs": outputs}))
    """
)


def _run_training_script(script: str, out: Path, **env: str) -> dict:
    """Run ``script`` in a fresh Python (its own TensorFlow), return its last JSON line."""
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_mirrored_strategy_over_two_logical_cpus(tmp_path: Path) -> None:
    report = _run_training_script(MIRRORED_SCRIPT, tmp_path)
    assert report["replicas"] == 2 and report["global_batch"] == 32
    assert all(np.isfinite(report["loss"]))
    assert report["outputs"] == [[None, 10]]
    assert (tmp_path / "model.keras").is_file()


MULTI_WORKER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from edgeship.train import TrainConfig, train
    r = train(TrainConfig(recipe="lenet5", dataset="digits", epochs=1, batch_size=16,
                          max_samples=120, out=sys.argv[1], strategy="multi-worker", verbose=0))
    print(json.dumps({"replicas": r.card.training["replicas"], "out": str(r.out),
                      "loss": r.history["loss"]}))
    """
)


def test_multi_worker_strategy_from_tf_config(tmp_path: Path) -> None:
    """A one-worker cluster on localhost: TF_CONFIG is read and the chief writes the files."""
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    tf_config = {
        "cluster": {"worker": [f"localhost:{port}"]},
        "task": {"type": "worker", "index": 0},
    }
    report = _run_training_script(MULTI_WORKER_SCRIPT, tmp_path, TF_CONFIG=json.dumps(tf_config))
    assert report["replicas"] == 1 and report["out"] == str(tmp_path)
    assert all(np.isfinite(report["loss"]))
    assert (tmp_path / "model.keras").is_file()


def test_only_the_chief_writes_to_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeship.train import TrainConfig
    from edgeship.train.distribute import worker_config

    config = TrainConfig(strategy="multi-worker", out="shared/out")
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert worker_config(config).out == "shared/out"
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    other = worker_config(config)
    assert other.out != "shared/out" and "edgeship-worker-" in other.out
    Path(other.out).rmdir()


def test_augment_is_refused_for_sequences(tmp_path: Path, quick_config) -> None:
    from edgeship.errors import InvalidInputError
    from edgeship.train import train

    with pytest.raises(InvalidInputError, match="--augment applies to images"):
        train(quick_config(tmp_path, recipe="lstm", dataset="digits-seq", augment=True))
    assert not (tmp_path / "model.keras").exists()


def test_tensorboard_logs_or_a_clear_error(tmp_path: Path, quick_config) -> None:
    from edgeship._lazy import is_available
    from edgeship.errors import MissingDependencyError
    from edgeship.train import train

    config = quick_config(tmp_path, recipe="lenet5", tensorboard=True)
    if is_available("tensorboard"):
        train(config)
        assert any((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    else:
        with pytest.raises(MissingDependencyError, match="pip install tensorboard"):
            train(config)
        assert not (tmp_path / "model.keras").exists()
