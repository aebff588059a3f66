"""Session-wide fixtures: one small CNN trained on the digits dataset, shared by every test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONHASHSEED", "0")
# Verification verdicts go to a cache of this run, never to the user's ~/.cache/edgeship.
os.environ["EDGESHIP_CACHE_DIR"] = tempfile.mkdtemp(prefix="edgeship-test-cache-")
atexit.register(shutil.rmtree, os.environ["EDGESHIP_CACHE_DIR"], ignore_errors=True)

DIGITS_EPOCHS = 6


@pytest.fixture(scope="session")
def digits_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits CNN with its card, calibration and eval files, trained once per session."""
    from edgeship.train import TrainConfig, train

    out = tmp_path_factory.mktemp("digits_model")
    train(
        TrainConfig(
            recipe="mnist-cnn",
            dataset="digits",
            epochs=DIGITS_EPOCHS,
            batch_size=64,
            out=str(out),
            seed=0,
            verbose=0,
        )
    )
    return out


@pytest.fixture(scope="session")
def digits_samples(digits_model_dir: Path):
    """The digits test split (inputs and labels) written by the training fixture."""
    from edgeship.samples import load_samples

    return load_samples(digits_model_dir / "eval.npz")
