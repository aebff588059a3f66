"""One opt-in for models that hold code (a Lambda layer): card, convert and pipeline alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeship.cli.main import main
from edgeship.modelfile import UNSAFE_LOAD_WARNING


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    model.save(path)
    return path


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "safe_mode off" in line]


def test_card_and_convert_take_the_same_unsafe_opt_in(lambda_model, tmp_path, capsys):
    card_dir = tmp_path / "card"
    assert main(["card", str(lambda_model), "--out", str(card_dir), "--unsafe"]) == 0
    card_err = capsys.readouterr().err
    model = card_dir / "model.keras"
    warning = f"edgeship card: warning: {UNSAFE_LOAD_WARNING}"
    assert _warnings(card_err) == [warning]

    argv = ["convert", str(model), "--to", "tflite-fp32", "--out", str(tmp_path / "arts")]
    assert main([*argv, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "holds code (e.g. a Lambda layer) that Keras safe mode refuses to run" in err
    assert "If you trust the file, pass --unsafe (unsafe=True in Python)." in err
    assert not (tmp_path / "arts").exists()

    assert main([*argv, "--quiet", "--unsafe"]) == 0
    err = capsys.readouterr().err
    assert _warnings(err) == [f"edgeship convert: warning: {UNSAFE_LOAD_WARNING}"]
    assert (tmp_path / "arts" / "tflite-fp32.tflite").is_file()


def test_pipeline_model_takes_unsafe(lambda_model, tmp_path, capsys):

    base = ["pipeline", "--model", str(lambda_model), "--variants", "tflite-fp32"]
    base += ["--threads", "1", "--cold", "0", "--bench-min-seconds", "0.02"]
    assert main([*base, "--out", str(tmp_path / "safe")]) == 1
    assert "pass --unsafe" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "run"), "--unsafe"]) == 0
    err = capsys.readouterr().err
    assert _warnings(err) == [f"edgeship pipeline: warning: {UNSAFE_LOAD_WARNING}"]
    assert (tmp_path / "run" / "bench.json").is_file()
    assert "the Keras baseline is not timed: it loads models in safe mode only" in err
