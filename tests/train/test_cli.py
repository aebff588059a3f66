"""`edgeship train` and `edgeship card` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import load_card
from edgeship.cli.main import main


def test_help_does_not_import_tensorflow() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from edgeship.cli.main import main\n"
        "for cmd in ('train', 'card'):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main([cmd, '--help'])\n"
        "import edgeship.train\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--mixed-precision" in text and "--strategy" in text


def test_train_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--epochs", "1", "--max-samples", "100", "--out", str(tmp_path), "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert Path(summary["model"]).is_file()
    # the reported accuracy is the saved model's on the saved test split
    import keras

    from edgeship.samples import load_samples

    model = keras.saving.load_model(summary["model"], safe_mode=True, compile=False)
    evals = load_samples(tmp_path / "eval.npz")
    top1 = np.asarray(model.predict(evals.single, verbose=0)).argmax(axis=1)
    assert summary["test_accuracy"] == pytest.approx(float(np.mean(top1 == evals.labels)))
    assert load_card(tmp_path).metrics["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert main(args) == 1  # exists, no --force
    assert "already exists" in capsys.readouterr().err


def test_progress_into_a_file_is_one_plain_line_per_epoch(tmp_path: Path, capfd) -> None:
    """Output that is not a terminal (a log, CI) gets no progress bar and no ANSI codes."""
    args = ["train", "--epochs", "2", "--max-samples", "100", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capfd.readouterr().out
    assert "\x1b[" not in out and "\r" not in out and "\b" not in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("Epoch ")] == [
        ["Epoch", "1/2"],
        ["Epoch", "2/2"],
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "imagenet"], "edgeship train: error: Unknown dataset 'imagenet'"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
        (["--dataset", "npz:/nonexistent/d.npz"], "does not exist"),
    ],
)
def test_train_command_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["train", "--out", str(tmp_path), *argv]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "model.keras").exists()


def test_card_for_an_existing_model(
    tmp_path: Path, digits_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    assert main(["card", str(digits_model_dir / "model.keras"), "--out", str(out), "--json"]) == 0
    card = load_card(out)
    trained = load_card(digits_model_dir)
    assert card.metrics["test_accuracy"] == pytest.approx(trained.metrics["test_accuracy"])
    assert card.inputs == trained.inputs and card.labels == trained.labels
    assert (out / "model.keras").is_file() and (out / "eval.npz").is_file()
    assert json.loads(capsys.readouterr().out)["schema"] == "edgeship.card/1"
    assert main(["card", str(digits_model_dir / "model.keras"), "--out", str(out)]) == 1
    assert "Pass --force" in capsys.readouterr().err


def test_card_rejects_a_dataset_of_another_shape(
    tmp_path: Path, digits_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "big.npz"
    np.savez(data, x_train=np.zeros((40, 28, 28), np.uint8), y_train=np.arange(40) % 10)
    argv = ["card", str(digits_model_dir / "model.keras"), "--dataset", f"npz:{data}"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "expects inputs of shape (8, 8, 1) per sample" in err and "gives (28, 28, 1)" in err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--input-scale", "nan"], "input_scale must be a finite number > 0"),
        (["--input-scale", "-1"], "input_scale must be a finite number > 0"),
        (["--calibration-samples", "0"], "calibration_samples must be at least 10"),
    ],
)
def test_card_rejects_bad_numbers_before_loading(
    tmp_path: Path, digits_model_dir: Path, capsys: pytest.CaptureFixture[str], flags, message
) -> None:
    argv = ["card", str(digits_model_dir / "model.keras"), "--out", str(tmp_path / "o"), *flags]
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_card_of_a_text_file_named_keras(tmp_path: Path, capsys) -> None:
    (tmp_path / "text.keras").write_text("hello")
    assert main(["card", str(tmp_path / "text.keras"), "--out", str(tmp_path / "o")]) == 1
    assert "is not a valid .keras file" in capsys.readouterr().err


def test_card_safe_mode_refuses_lambda_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    path = tmp_path / "lambda.keras"
    model.save(path)
    assert main(["card", str(path), "--out", str(tmp_path / "o")]) == 1
    assert "pass --unsafe" in capsys.readouterr().err
    assert main(["card", str(path), "--out", str(tmp_path / "o"), "--unsafe"]) == 0
    assert load_card(tmp_path / "o").outputs[0].shape == (None, 10)


def test_card_for_a_saved_model(tmp_path: Path, digits_model_dir: Path) -> None:
    import keras

    model = keras.saving.load_model(digits_model_dir / "model.keras")
    saved = tmp_path / "saved"
    model.export(saved, format="tf_saved_model", verbose=False)
    out = tmp_path / "card"
    assert main(["card", str(saved), "--out", str(out)]) == 0
    card = load_card(out)
    trained = load_card(digits_model_dir)
    assert card.metrics["test_accuracy"] == pytest.approx(trained.metrics["test_accuracy"])
    assert card.files["model"] == str(saved) and card.outputs[0].shape == (None, 10)
    assert not (out / "model.keras").exists()
