"""Bad input gets a clear, typed error before anything is written."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeship.cli.main import main
from edgeship.convert import convert, read_manifest
from edgeship.errors import ConfigError, DatasetError, MissingModuleError, ModelLoadError
from edgeship.samples import save_samples


def test_missing_and_corrupt_models(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        convert(tmp_path / "nope.keras", tmp_path / "out")
    corrupt = tmp_path / "model.keras"
    corrupt.write_bytes(b"not a zip archive")
    with pytest.raises(ModelLoadError, match=r"not a valid \.keras file"):
        convert(corrupt, tmp_path / "out")
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"garbage!" * 4)
    with pytest.raises(ModelLoadError, match=r"not a valid HDF5 \(\.h5\) file"):
        convert(h5, tmp_path / "out")
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"expected a \.keras or \.h5 file"):
        convert(other, tmp_path / "out")
    with pytest.raises(ModelLoadError, match=r"without saved_model\.pb"):
        convert(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_options_before_work(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    with zipfile.ZipFile(model, "w") as zf:
        zf.writestr("config.json", "{}")
    with pytest.raises(ConfigError, match="Unknown variant"):
        convert(model, tmp_path / "out", variants="tflite-int3")
    with pytest.raises(ConfigError, match="Unknown convert option"):
        convert(model, tmp_path / "out", options={"turbo": 1})
    with pytest.raises(ConfigError, match="Unknown target runtime"):
        convert(model, tmp_path / "out", target_runtime="coreml==7")
    with pytest.raises(ConfigError, match=r"force must be True or False\. Got: 'no'"):
        convert(model, tmp_path / "out", force="no")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="progress must be a callable"):
        convert(model, tmp_path / "out", progress=5)  # type: ignore[arg-type]
    for drop in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="max_accuracy_drop is in percentage points"):
            convert(model, tmp_path / "out", max_accuracy_drop=drop)
    with pytest.raises(ConfigError, match=r"fixed batch size must be a positive integer .* 0"):
        convert(model, tmp_path / "out", options={"batch_size": 0})
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ConfigError, match="A fixed batch size needs a Keras model"):
        convert(saved, tmp_path / "out", options={"batch_size": 1})
    assert not (tmp_path / "out").exists()


def test_calibration_of_wrong_shape(digits_model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cal.npz"
    save_samples(bad, np.zeros((50, 8, 8, 3), np.float32))
    with pytest.raises(
        DatasetError, match=r"sample shape \(8, 8, 3\); the model expects \(8, 8, 1\)"
    ):
        convert(digits_model_dir / "model.keras", tmp_path / "out", variants=("tflite-int8",),
                calibration=bad)  # fmt: skip
    few = tmp_path / "few.npz"
    save_samples(few, np.zeros((5, 8, 8, 1), np.float32))
    with pytest.raises(DatasetError, match="holds 5 samples; at least 10"):
        convert(digits_model_dir / "model.keras", tmp_path / "out", variants=("onnx-int8",),
                calibration=few)  # fmt: skip


def test_custom_layer_is_named(tmp_path: Path) -> None:
    import keras

    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(Doubler(name="doubler")(inp)))
    model.save(tmp_path / "custom.keras")
    with pytest.raises(
        MissingModuleError,  # the test module is not importable in convert's process
        match=r"module '[\w.]*test_errors' \(Doubler \(layer .doubler.\)\), which Python "
        r"cannot import .* registered by @keras.saving.register_keras_serializable\(\)",
    ):
        convert(tmp_path / "custom.keras", tmp_path / "out", variants=("tflite-fp32",))


def test_cli_error_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["convert", str(tmp_path / "none.keras"), "--to", "all", "--out", str(tmp_path)])
    assert code == 1
    assert "edgeship convert: error: Model" in capsys.readouterr().err


def test_cli_convert_with_target_runtime(
    digits_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m"
    shutil.copytree(digits_model_dir, model)
    out = tmp_path / "out"
    args = ["convert", str(model / "model.keras"), "--to", "tflite-dynamic", "--out", str(out),
            "--target-runtime", "tflite-runtime==2.14", "--quiet"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "tflite-dynamic" in text and " ok " in text
    manifest = read_manifest(out)
    record = manifest["variants"][0]
    assert record["status"] == "ok"
    assert record["params"]["per_channel_dense"] is False
    assert manifest["target_runtime"] == "tflite-runtime==2.14"
    assert any("per tensor" in note for note in manifest["notes"])
    # per-tensor dense weights run on tflite-runtime 2.14 (when installed here)
    old = [r for k, r in record["runtimes"].items() if k.startswith("tflite-runtime 2.14")]
    assert old in ([], ["ok"])
    assert record["target"].startswith(("runs on tflite-runtime 2.14", "not verified"))
    assert main(args) == 1  # the directory now holds artifacts
    assert "pass --force" in capsys.readouterr().err


def test_keep_float_names_that_match_nothing_fail_the_variant(
    digits_model_dir: Path, tmp_path: Path
) -> None:
    """The converter ignores unknown names silently; edgeship says so and names real ones."""
    from edgeship.errors import ParityError

    with pytest.raises(ParityError) as info:
        convert(
            digits_model_dir / "model.keras",
            tmp_path / "out",
            variants=("tflite-int8",),
            options={"keep_float": ("no_such_layer",)},
            check_runtimes=False,
        )
    assert info.value.failures == ["tflite-int8"]
    [record] = read_manifest(tmp_path / "out")["variants"]
    assert "are not tensors of the TFLite model" in record["errors"][-1]
    assert "Expected tensor names such as" in record["errors"][-1]


def test_labels_beyond_the_models_classes_stop_the_convert(
    digits_model_dir: Path, digits_samples, tmp_path: Path
) -> None:
    """Labels 100..109 for a 10-class model would make every accuracy 0 and the gate moot."""
    bad = tmp_path / "eval.npz"
    save_samples(bad, digits_samples.single[:40], digits_samples.labels[:40] + 100)
    with pytest.raises(DatasetError, match=r"go up to 10\d, but the model scores 10 classes"):
        convert(digits_model_dir / "model.keras", tmp_path / "out", variants=("tflite-fp32",),
                eval_data=bad, check_runtimes=False)  # fmt: skip


def test_convert_prints_warnings_as_its_own_lines_without_source_paths(
    digits_model_dir: Path, tmp_path: Path
) -> None:
    """A warning raised while converting (here the one --unsafe always gives) reaches the
    console as 'edgeship convert: warning: ...', not as Python's 'file.py:12: XWarning: ...'
    with the source line under it."""
    import re
    import subprocess
    import sys

    from edgeship.childproc import child_env
    from edgeship.modelfile import UNSAFE_LOAD_WARNING

    cmd = [sys.executable, "-m", "edgeship.cli.main", "convert",
           str(digits_model_dir / "model.keras"), "--to", "tflite-fp32", "--unsafe",
           "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env=child_env(TF_CPP_MIN_LOG_LEVEL="2")
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert not [line for line in lines if re.search(r"\.py:\d+: \w*Warning", line)], lines
    assert lines.count(f"edgeship convert: warning: {UNSAFE_LOAD_WARNING}") == 1, lines


def test_missing_layer_library_is_named(tmp_path: Path) -> None:
    import json
    import zipfile

    import keras

    from edgeship.convert.source import load_source

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(inp))
    model.save(tmp_path / "plain.keras")
    # The same file as a layer library would write it: the Dense layer's class comes from a
    # package that is not installed here.
    with zipfile.ZipFile(tmp_path / "plain.keras") as src:
        files = {n: src.read(n) for n in src.namelist()}
    config = json.loads(files["config.json"])
    head = next(layer for layer in config["config"]["layers"] if layer["name"] == "head")
    head["module"], head["registered_name"] = "edgeship_absent_lib.layers", "absent>Dense"
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "lib.keras", "w") as dst:
        for name, data in files.items():
            dst.writestr(name, data)
    with pytest.raises(MissingModuleError) as caught:
        load_source(tmp_path / "lib.keras", None, tmp_path)
    assert str(caught.value) == (
        "Cannot load lib.keras: its config names classes from module "
        "'edgeship_absent_lib.layers' (Dense (layer 'head')), which Python cannot import here "
        "(no package 'edgeship_absent_lib'). Expected the module that defines these layers to "
        "be importable by convert: install the library that provides it (e.g. pip install "
        "edgeship-absent-lib) into the Python that runs convert, or, for your own layers, put "
        "the module on PYTHONPATH with the classes registered by "
        "@keras.saving.register_keras_serializable(); then convert again."
    )
    assert isinstance(caught.value, ModelLoadError)
    load_source(tmp_path / "plain.keras", None, tmp_path)  # the file itself is fine
