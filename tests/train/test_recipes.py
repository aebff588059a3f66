"""Each recipe: a short fit on a small slice of digits, then the saved model and its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import load_card
from edgeship.errors import InvalidInputError
from edgeship.samples import load_samples

CLASSIFIERS = [
    ("mnist-cnn", "digits", {}),
    ("lenet5", "digits", {"augment": True}),
    ("alexnet-small", "digits", {}),
    ("vgg-small", "digits", {}),
    # frozen backbone from a local weights file (training from scratch is benchmarked)
    (
        "mobilenetv2",
        "digits",
        {"image_size": (32, 32), "weights": "backbone", "fine_tune_epochs": 1},
    ),
    ("lstm", "digits-seq", {}),
]


@pytest.mark.filterwarnings("ignore:mobilenetv2. no --weights:UserWarning")
@pytest.mark.parametrize(
    ("recipe", "dataset", "extra"), CLASSIFIERS, ids=[c[0] for c in CLASSIFIERS]
)
def test_recipe_short_fit(
    tmp_path: Path, quick_config, backbone_weights: Path, recipe: str, dataset: str, extra: dict
):
    import keras

    from edgeship.train import train

    if extra.get("weights") == "backbone":
        extra = {**extra, "weights": str(backbone_weights)}

    # Three epochs on all of digits: long enough that the recipes learn (seed 0 gives 0.73 to
    # 0.99 test accuracy), short enough for the suite. MobileNetV2 on a frozen local (random)
    # backbone stays a quick fit: it learns nothing there (test accuracy 0.1, loss ln 10 after
    # 3 + 1 epochs) and costs minutes, so it is not claimed to learn.
    learns = recipe != "mobilenetv2"
    more = {"epochs": 3, "max_samples": None} if learns else {}
    config = quick_config(tmp_path, recipe=recipe, dataset=dataset, **more, **extra)
    result = train(config)
    for name in ("model.keras", "edgeship.json", "history.csv", "calibration.npz", "eval.npz"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.glob(".*partial")) and not list(tmp_path.glob(".model.keras.*"))
    card = load_card(tmp_path)
    assert card.name == f"{recipe}-{dataset}"
    assert card.labels == tuple(str(i) for i in range(10))
    assert card.outputs[0].name == "probabilities" and card.outputs[0].shape == (None, 10)
    if learns:
        assert card.metrics["test_accuracy"] > 0.4, card.metrics  # ten classes: chance is 0.1
    assert card.metrics["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert card.training["recipe"] == recipe and card.training["epochs_run"] >= 1
    assert card.preprocessing.scale == pytest.approx(1 / 16)

    model = keras.saving.load_model(result.model_path, safe_mode=True, compile=False)
    evals = load_samples(tmp_path / "eval.npz")
    calib = load_samples(tmp_path / "calibration.npz")
    assert evals.labels is not None and len(evals) == card.dataset["splits"]["test"]
    train_size = card.dataset["splits"]["train"]
    assert calib.labels is None and len(calib) == min(config.calibration_samples, train_size)
    expected_input = (None, *evals.single.shape[1:])
    assert card.inputs[0].shape == expected_input
    probs = np.asarray(model.predict(evals.single, verbose=0))
    assert probs.shape == (len(evals), 10) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    accuracy = float(np.mean(probs.argmax(axis=1) == evals.labels))
    assert accuracy == pytest.approx(card.metrics["test_accuracy"], abs=1e-6)
    # augmentation runs in tf.data only: no random layers in the saved model
    assert not [layer for layer in model.layers if type(layer).__name__.startswith("Random")]
    lines = (tmp_path / "history.csv").read_text().splitlines()
    header = lines[0]
    epochs = config.epochs + extra.get("fine_tune_epochs", 0)  # frozen phase, then fine-tuning
    assert len(lines) == 1 + epochs and len(result.history["loss"]) == epochs
    assert "val_loss" in header and "accuracy" in header


def test_gan_generator_is_the_deployable_model(tmp_path: Path, quick_config) -> None:
    import keras

    from edgeship.train import train

    # trained in mixed_float16 (loss-scaled optimizers); the float32 generator is saved
    result = train(quick_config(tmp_path, recipe="gan", latent_dim=16, precision="mixed_float16"))
    assert result.test_accuracy is None
    card = load_card(tmp_path)
    assert card.task == "generation" and card.labels is None
    assert card.inputs[0].name == "latent" and card.inputs[0].shape == (None, 16)
    assert card.outputs[0].shape == (None, 8, 8, 1)
    assert card.dataset["raw_scale"] == pytest.approx(1 / 16)
    assert np.isfinite(card.metrics["d_loss"]) and np.isfinite(card.metrics["g_loss"])
    generator = keras.saving.load_model(result.model_path, safe_mode=True, compile=False)
    assert {layer.compute_dtype for layer in generator.layers[1:]} == {"float32"}
    latent = load_samples(tmp_path / "eval.npz").single
    images = np.asarray(generator.predict(latent, verbose=0))
    assert images.shape == (len(latent), 8, 8, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert len(load_samples(tmp_path / "calibration.npz")) == 200


@pytest.mark.parametrize(
    ("recipe", "dataset", "message"),
    [
        ("mnist-cnn", "digits-seq", "Recipe 'mnist-cnn' expects image data. Got sequence data"),
        ("gan", "digits-seq", "Recipe 'gan' expects image data"),
    ],
)
def test_recipe_rejects_data_before_training(
    tmp_path: Path, quick_config, recipe: str, dataset: str, message: str
) -> None:
    from edgeship.train import train

    with pytest.raises(InvalidInputError) as info:
        train(quick_config(tmp_path, recipe=recipe, dataset=dataset))
    assert message in str(info.value)
    assert not (tmp_path / "model.keras").exists()


def test_image_too_small_for_recipe(tmp_path: Path, quick_config) -> None:
    from edgeship.train import train

    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=np.zeros((40, 4, 4), np.uint8), y_train=np.arange(40) % 2)
    with pytest.raises(InvalidInputError, match=r"needs images of at least 6x6\. Got 4x4"):
        train(quick_config(tmp_path / "out", dataset=f"npz:{path}"))


@pytest.mark.filterwarnings("ignore:mobilenetv2. no --weights:UserWarning")
def test_mobilenetv2_transfer_learning_with_a_local_weights_file(backbone_weights: Path) -> None:
    from edgeship.train import TrainConfig
    from edgeship.train.recipes import mobilenetv2

    scratch = mobilenetv2.build(
        (8, 8, 1), 10, TrainConfig(recipe="mobilenetv2", image_size=(32, 32))
    )
    names = [layer.name for layer in scratch.layers]
    assert {"gray_to_rgb", "resize", "to_minus1_1", "backbone"} <= set(names)
    assert scratch.get_layer("backbone").trainable  # random weights: trained from scratch

    config = TrainConfig(recipe="mobilenetv2", image_size=(32, 32), weights=str(backbone_weights))
    model = mobilenetv2.build((8, 8, 1), 10, config)
    backbone = model.get_layer("backbone")
    assert not backbone.trainable and backbone.input_shape[1:] == (32, 32, 3)
    assert len(model.trainable_weights) == 2  # the new head only
    mobilenetv2.unfreeze(model)
    assert len(model.trainable_weights) > 2
    assert not any(
        layer.trainable for layer in backbone.layers if type(layer).__name__ == "BatchNormalization"
    )
    assert not backbone.layers[1].trainable  # the bottom stays frozen
    with pytest.raises(InvalidInputError, match=r"at least 32x32\. Got image_size"):
        mobilenetv2.build((8, 8, 1), 10, TrainConfig(recipe="mobilenetv2", image_size=(16, 16)))


def test_mobilenetv2_missing_weights_file(tmp_path: Path) -> None:
    from edgeship.errors import ModelLoadError
    from edgeship.train import TrainConfig
    from edgeship.train.recipes import mobilenetv2

    config = TrainConfig(recipe="mobilenetv2", weights=str(tmp_path / "w.h5"))
    with pytest.raises(ModelLoadError, match=r"w\.h5 does not exist"):
        mobilenetv2.build((8, 8, 1), 10, config)


def test_recipes_adapt_to_shape_and_classes() -> None:
    from edgeship.train.recipes import get_recipe

    for name in ("mnist-cnn", "lenet5", "alexnet-small", "vgg-small"):
        for shape, classes in (((28, 28, 1), 10), ((32, 32, 3), 4)):
            model = get_recipe(name).build(shape, classes)
            assert tuple(model.outputs[0].shape) == (None, classes), name
    lstm = get_recipe("lstm").build((8, 8, 1), 3)
    assert lstm.inputs[0].name == "image" and tuple(lstm.outputs[0].shape) == (None, 3)


def test_card_is_json_with_the_contract_fields(digits_model_dir: Path) -> None:
    data = json.loads((digits_model_dir / "edgeship.json").read_text())
    assert data["schema"] == "edgeship.card/1"
    for key in ("inputs", "outputs", "labels", "preprocessing", "dataset", "metrics", "training"):
        assert key in data
    assert data["inputs"][0]["name"] == "image" and data["inputs"][0]["shape"] == [None, 8, 8, 1]
    assert data["metrics"]["test_accuracy"] > 0.5  # learned: chance is 0.1 on ten classes
    assert data["versions"]["keras"]
