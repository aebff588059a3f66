"""Fixtures of the training tests: tiny quick runs on small slices of digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Small and fast: 1 epoch on ~120 samples.
QUICK = {"epochs": 1, "batch_size": 32, "max_samples": 120, "verbose": 0, "seed": 0}


@pytest.fixture(scope="session")
def quick_config():
    """A factory of quick TrainConfig objects writing into a fresh temp folder."""
    from edgeship.train import TrainConfig

    def make(tmp: Path, **changes: object) -> TrainConfig:
        settings = {**QUICK, "out": str(tmp), **changes}
        return TrainConfig(**settings)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def backbone_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local MobileNetV2 (alpha 0.35, 32x32, no top) weights file, as --weights takes."""
    import warnings

    from edgeship.train import TrainConfig
    from edgeship.train.recipes import mobilenetv2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = mobilenetv2.build(
            (8, 8, 1), 10, TrainConfig(recipe="mobilenetv2", image_size=(32, 32))
        )
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_0.35_32_no_top.weights.h5"
    model.get_layer("backbone").save_weights(path)
    return path
