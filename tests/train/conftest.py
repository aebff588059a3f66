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
