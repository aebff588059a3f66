"""Calibration and evaluation data: find it, load it, check it against the model's inputs.

A source is an ``.npz`` file (``x``, ``x:<input>`` or ``<input>`` plus optional labels
``y``), a dataset name understood by ``edgeship train`` (``digits``, ``npz:PATH``...), or None
for the file the card lists beside the model (``calibration.npz`` / ``eval.npz``). numpy-only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeship.card import ModelCard, TensorInfo
from edgeship.errors import DatasetError
from edgeship.samples import SINGLE_INPUT_KEY, Samples, load_samples

MIN_CALIBRATION_SAMPLES = 10
DEFAULT_FILES = {"calibration": "calibration.npz", "eval": "eval.npz"}


def find_default(
    model_path: str | os.PathLike[str], card: ModelCard | None, role: str
) -> Path | None:
    """The card's ``role`` file (``calibration`` or ``eval``) beside the model, if present."""
    base = Path(model_path)
    folder = base if base.is_dir() and not (base / "saved_model.pb").is_file() else base.parent
    name = (card.files.get(role) if card is not None else None) or DEFAULT_FILES[role]
    for candidate in (folder / name, base / name if base.is_dir() else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def load_source(source: str | os.PathLike[str], role: str, seed: int = 0) -> Samples:
    """Load samples from an ``.npz`` path or a dataset name.

    For a dataset name, calibration uses training inputs and eval the test split.

    Raises:
        DatasetError: unreadable file or unknown dataset.
    """
    text = os.fspath(source)
    if text.endswith(".npz") or Path(text).is_file():
        return load_samples(text)
    from edgeship.datasets import DatasetOptions, load_dataset

    try:
        splits = load_dataset(DatasetOptions(dataset=text, seed=seed))
    except DatasetError:
        raise
    except ImportError as exc:
        raise DatasetError(
            f"Cannot load dataset {text!r} for {role}: the training extra is missing ({exc}). "
            "Pass an .npz file instead, or pip install 'edgeship[train]'."
        ) from exc
    except Exception as exc:
        raise DatasetError(
            f"Cannot load dataset {text!r} for {role}: {exc}. Expected an .npz file or a dataset "
            "name such as 'digits' or 'npz:PATH'."
        ) from exc
    if role == "calibration":
        return Samples({SINGLE_INPUT_KEY: splits.x_train}, splits.y_train)
    return Samples({SINGLE_INPUT_KEY: splits.x_test}, splits.y_test)


def match_inputs(
    samples: Samples,
    inputs: tuple[TensorInfo, ...],
    role: str,
    count: int | None = None,
    minimum: int = 1,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Check ``samples`` against the model inputs; return arrays keyed by input name + labels.

    Args:
        samples: loaded samples.
        inputs: the model's input specs (names, shapes with None for free dims, dtypes).
        role: ``"calibration"`` or ``"eval"`` (used in messages).
        count: keep at most this many samples.
        minimum: fewer samples than this raise DatasetError.

    Raises:
        DatasetError: wrong names, shapes or dtypes, or too few samples.
    """
    arrays = dict(samples.inputs)
    names = [t.name for t in inputs]
    if len(inputs) == 1 and list(arrays) == [SINGLE_INPUT_KEY]:
        arrays = {names[0]: arrays[SINGLE_INPUT_KEY]}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise DatasetError(
            f"The {role} data has arrays {sorted(samples.inputs)}; the model expects inputs "
            f"{names}. Store 'x' for a single-input model, or one array per input named "
            "'<input name>' or 'x:<input name>'."
        )
    out: dict[str, np.ndarray] = {}
    for info in inputs:
        value = np.asarray(arrays[info.name])
        expected = tuple(info.shape[1:])
        got = tuple(value.shape[1:])
        if len(got) != len(expected) or any(
            e is not None and e != g for e, g in zip(expected, got, strict=True)
        ):
            raise DatasetError(
                f"The {role} data for input {info.name!r} has sample shape {got}; the model "
                f"expects {tuple('?' if d is None else d for d in expected)}. Fix the .npz "
                "(model-input space, batch first)."
            )
        if value.dtype.kind not in "fiub":
            raise DatasetError(
                f"The {role} data for input {info.name!r} has dtype {value.dtype}; expected "
                f"numbers castable to {info.dtype}."
            )
        out[info.name] = _as_input_dtype(value, info, role)
    available = min(len(v) for v in out.values())
    if available < minimum:
        raise DatasetError(
            f"The {role} data holds {available} samples; at least {minimum} are needed. "
            f"Pass more samples (200 is a good default)."
        )
    keep = available if count is None else min(count, available)
    labels = samples.labels[:keep] if samples.labels is not None else None
    return {k: v[:keep] for k, v in out.items()}, labels


def _as_input_dtype(value: np.ndarray, info: TensorInfo, role: str) -> np.ndarray:
    """Cast to the model input's dtype: float data to float inputs, integer data (token ids)
    to integer inputs. Float data for an integer input must hold whole numbers."""
    if info.dtype.startswith("float"):
        return value.astype(info.dtype)
    if value.dtype.kind == "f" and not np.array_equal(value, np.round(value)):
        raise DatasetError(
            f"The {role} data for input {info.name!r} holds fractional {value.dtype} values; "
            f"the model expects {info.dtype} (e.g. token ids). Store integer ids."
        )
    return value.astype(info.dtype)


def random_inputs(
    inputs: tuple[TensorInfo, ...], count: int = 32, seed: int = 0
) -> dict[str, np.ndarray]:
    """Uniform [0, 1) inputs for models without eval data (free dims other than batch -> 1);
    integer inputs get ids 0..9, boolean inputs random flags."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for t in inputs:
        shape = (count, *[d or 1 for d in t.shape[1:]])
        if t.dtype.startswith("float"):
            out[t.name] = rng.random(shape).astype(t.dtype)
        elif t.dtype == "bool":
            out[t.name] = rng.random(shape) < 0.5
        else:
            out[t.name] = rng.integers(0, 10, shape).astype(t.dtype)
    return out
