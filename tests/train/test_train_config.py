"""TrainConfig validation and CLI flag mapping (no TensorFlow needed)."""

from __future__ import annotations

import pytest

from edgeship.errors import ConfigError
from edgeship.train import TrainConfig


def test_defaults_are_the_contract() -> None:
    config = TrainConfig()
    assert (config.recipe, config.dataset, config.epochs, config.batch_size) == (
        "mnist-cnn",
        "digits",
        15,
        64,
    )
    assert config.to_dict()["strategy"] == "default"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recipe": "resnet"}, "Unknown recipe 'resnet'. Expected one of: mnist-cnn"),
        ({"dataset": "imagenet"}, "Unknown dataset 'imagenet'. Expected one of: digits"),
        ({"strategy": "tpu"}, "Unknown strategy 'tpu'. Expected one of: default, mirrored"),
        ({"precision": "fp8"}, "Unknown precision 'fp8'"),
        ({"epochs": 0}, "epochs must be an integer >= 1. Got: 0"),
        ({"batch_size": -4}, "batch_size must be an integer >= 1. Got: -4"),
        ({"validation_split": 1.5}, "validation_split must be between 0 and 0.9"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"devices": ("/cpu:0",)}, "devices is only used with strategy 'mirrored'"),
        ({"weights": "w.h5"}, "weights applies to the mobilenetv2 backbone only"),
        ({"fine_tune_epochs": 2}, "fine_tune_epochs applies to the mobilenetv2 recipe only"),
        ({"image_size": (4, 4)}, "image_size must be (height, width), each >= 8"),
        ({"max_samples": 3}, "max_samples must be >= 10"),
    ],
)
def test_bad_settings_are_rejected(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes)
    assert message in str(info.value)


def test_replace_rejects_unknown_settings() -> None:
    with pytest.raises(ConfigError, match=r"Unknown training setting\(s\) \['epoch'\]"):
        TrainConfig().replace(epoch=3)


def test_cli_flags_map_onto_the_config() -> None:
    from edgeship.cli.main import build_parser
    from edgeship.cli.train import config_from_args

    args = build_parser().parse_args(
        [
            "train",
            "--recipe",
            "vgg-small",
            "--dataset",
            "npz:/data/x.npz",
            "--mixed-precision",
            "--jit",
            "--strategy",
            "mirrored",
            "--devices",
            "/gpu:0,/gpu:1",
            "--image-size",
            "32",
            "--out",
            "o",
        ]
    )
    config = config_from_args(args)
    assert config.recipe == "vgg-small"
    assert config.precision == "mixed_float16"
    assert config.jit is True
    assert config.devices == ("/gpu:0", "/gpu:1")
    assert config.image_size == (32, 32)


def test_cli_rejects_conflicting_precision_flags() -> None:
    from edgeship.cli.main import build_parser
    from edgeship.cli.train import config_from_args

    args = build_parser().parse_args(
        ["train", "--mixed-precision", "--precision", "mixed_bfloat16"]
    )
    with pytest.raises(ConfigError, match="--mixed-precision means mixed_float16"):
        config_from_args(args)
