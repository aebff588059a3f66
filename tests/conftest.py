"""Session-wide fixtures: one small CNN trained on the digits dataset, shared by every test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONHASHSEED", "0")
# Verification verdicts go to a cache of this run, never to the user's ~/.cache/edgeship.
os.environ["EDGESHIP_CACHE_DIR"] = tempfile.mkdtemp(prefix="edgeship-test-cache-")
atexit.register(shutil.rmtree, os.environ["EDGESHIP_CACHE_DIR"], ignore_errors=True)

DIGITS_EPOCHS = 6
#: A folder where the digits model (and convert's digits_all) are kept across pytest runs:
#: built there when missing, reused when present. For repeated runs of the same tests
#: (``make mutants``); unset, every session builds its own in a temporary folder.
REUSE_ENV = "EDGESHIP_TEST_REUSE"


def _reused(name: str, marker: str, factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """The folder for fixture ``name`` and whether it is already built (``marker`` exists)."""
    root = os.environ.get(REUSE_ENV)
    if not root:
        return factory.mktemp(name), False
    out = Path(root) / name
    if (out / marker).exists():
        return out, True
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out, False


@pytest.fixture(scope="session")
def reused(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], tuple[Path, bool]]:
    """``reused(name, marker)``: a folder for a session fixture, and whether it is built."""
    return lambda name, marker: _reused(name, marker, tmp_path_factory)


@pytest.fixture(scope="session")
def digits_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits CNN with its card, calibration and eval files, trained once per session."""
    from edgeship.train import TrainConfig, train

    out, built = _reused("digits_model", "model.keras", tmp_path_factory)
    if built:
        return out
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
