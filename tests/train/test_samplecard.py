"""`edgeship card` for a model with two inputs, one of them integer token ids: the card lists
every input, the sample files are keyed by input name, and convert and parity run on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeship.card import load_card
from edgeship.cli.main import main
from edgeship.samples import load_samples, save_samples


def _two_input_model(folder: Path) -> tuple[Path, Path]:
    """A digits classifier that also takes 6 token ids (embedded); data keyed by input name."""
    import keras
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.images[:400].astype(np.float32) / 16.0)[..., None]
    y = digits.target[:400].astype(np.int64)
    tokens = np.random.default_rng(0).integers(0, 20, size=(400, 6)).astype(np.int32)
    image = keras.Input((8, 8, 1), name="image")
    ids = keras.Input((6,), name="tokens", dtype="int32")
    h = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    t = keras.layers.Flatten()(keras.layers.Embedding(20, 2)(ids))
    joined = keras.layers.Concatenate()([h, t])
    out = keras.layers.Dense(10, activation="softmax", name="digit")(joined)
    model = keras.Model({"image": image, "tokens": ids}, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit({"image": x, "tokens": tokens}, y, epochs=8, batch_size=32, verbose=0)
    model.save(folder / "two.keras")
    save_samples(folder / "data.npz", {"image": x, "tokens": tokens}, y)
    return folder / "two.keras", folder / "data.npz"


@pytest.fixture(scope="module")
def carded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("two_inputs")
    model, data = _two_input_model(folder)
    out = folder / "card"
    assert main(["card", str(model), "--dataset", f"npz:{data}", "--out", str(out)]) == 0
    return out, model


def test_the_card_lists_every_input_with_dtype_and_range(carded):
    out, _ = carded
    card = load_card(out)
    inputs = {t.name: t for t in card.inputs}
    assert sorted(inputs) == ["image", "tokens"]
    assert inputs["image"].dtype == "float32" and inputs["image"].shape == (None, 8, 8, 1)
    assert inputs["tokens"].dtype == "int32" and inputs["tokens"].shape == (None, 6)
    assert inputs["image"].range == (0.0, 1.0)
    assert inputs["tokens"].range is not None and inputs["tokens"].range[1] <= 19
    assert [t.name for t in card.outputs] == ["digit"]
    assert card.metrics["test_accuracy"] > 0.8
    for name in ("calibration.npz", "eval.npz"):
        samples = load_samples(out / name)
        assert sorted(samples.inputs) == ["image", "tokens"], name
        assert samples.inputs["tokens"].dtype == np.int32
    assert load_samples(out / "eval.npz").labels is not None


def test_the_carded_model_converts_and_passes_parity(carded):
    from edgeship.convert import convert
    from edgeship.runtime import load

    out, _ = carded
    manifest = convert(out / "model.keras", out / "artifacts", variants="tflite-fp32,onnx-fp32")
    for record in manifest["variants"]:
        assert record["status"] == "ok", record["errors"]
        assert record["parity"]["accuracy"] > 0.8
        assert sorted(record["tensor_names"]["inputs"].values()) == ["image", "tokens"]
    samples = load_samples(out / "eval.npz")
    for file in ("tflite-fp32.tflite", "onnx-fp32.onnx"):
        with load(out / "artifacts" / file) as engine:
            assert sorted(s.name for s in engine.inputs) == ["image", "tokens"]
            probs = engine.predict(samples.inputs)
            assert (probs.argmax(1) == samples.labels).mean() > 0.8


def test_an_image_dataset_for_a_two_input_model_is_a_clear_error(carded, tmp_path, capsys):
    _, model = carded
    assert main(["card", str(model), "--dataset", "digits", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "takes 2 input(s), or integer token ids" in err
    assert "Expected --dataset npz:PATH with one array per input" in err
    assert not (tmp_path / "edgeship.json").exists()


def test_samples_that_do_not_name_the_inputs_are_a_clear_error(carded, tmp_path, capsys):
    _, model = carded
    bad = tmp_path / "bad.npz"
    save_samples(bad, {"pixels": np.zeros((20, 8, 8, 1)), "ids": np.zeros((20, 6), int)})
    assert main(["card", str(model), "--dataset", f"npz:{bad}", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "holds inputs ['ids', 'pixels']; the model's inputs are ['image', 'tokens']" in err
    floats = tmp_path / "floats.npz"
    save_samples(floats, {"image": np.zeros((20, 8, 8, 1)), "tokens": np.zeros((20, 6))})
    assert main(["card", str(model), "--dataset", f"npz:{floats}", "--out", str(tmp_path)]) == 1
    assert "Input 'tokens' takes int32 token ids" in capsys.readouterr().err
    assert not (tmp_path / "edgeship.json").exists()
