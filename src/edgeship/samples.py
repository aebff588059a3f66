"""Sample files (``calibration.npz``, ``eval.npz``): model inputs and optional labels.

numpy-only. Layout of the ``.npz``:

* a single-input model stores its inputs under ``x``;
* a multi-input model stores one array per input under ``x:<input name>``, or under the
  input's own name (any key other than ``y``);
* integer class labels, when known, are stored under ``y``.

Files with ``x_test``/``y_test`` (the ``npz:PATH`` dataset layout) are read too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from edgeship._records import Value
from edgeship.errors import DatasetError
from edgeship.fileio import atomic_path, not_a_file

SINGLE_INPUT_KEY = "x"
INPUT_PREFIX = "x:"
LABELS_KEY = "y"


class Samples(Value):
    """Model inputs by name (``"x"`` when the model has a single unnamed input) and labels."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None

    def __init__(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        self._set(inputs=inputs, labels=labels)

    def __len__(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])

    @property
    def single(self) -> np.ndarray:
        """The only input array; raises when there are several."""
        if len(self.inputs) != 1:
            raise DatasetError(
                f"Expected samples for a single-input model. Got inputs {sorted(self.inputs)}."
            )
        return next(iter(self.inputs.values()))

    def take(self, count: int) -> Samples:
        """Return the first ``count`` samples."""
        return Samples(
            inputs={k: v[:count] for k, v in self.inputs.items()},
            labels=None if self.labels is None else self.labels[:count],
        )


def save_samples(
    path: str | os.PathLike[str],
    inputs: np.ndarray | dict[str, np.ndarray],
    labels: np.ndarray | None = None,
) -> Path:
    """Write samples atomically; ``inputs`` is an array or a dict of arrays by input name."""
    if isinstance(inputs, np.ndarray):
        arrays = {SINGLE_INPUT_KEY: inputs}
    elif len(inputs) == 1:
        arrays = {SINGLE_INPUT_KEY: next(iter(inputs.values()))}
    else:
        arrays = {f"{INPUT_PREFIX}{name}": value for name, value in inputs.items()}
    if labels is not None:
        arrays[LABELS_KEY] = np.asarray(labels)
    counts = {k: int(v.shape[0]) for k, v in arrays.items()}
    if len(set(counts.values())) > 1:
        raise DatasetError(f"All sample arrays must have the same length. Got: {counts}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def _read_errors() -> tuple[type[Exception], ...]:
    """What np.load raises on a bad file; zipfile's error only once numpy imported zipfile to
    read an .npz (reading an .npy never imports it)."""
    zipfile = sys.modules.get("zipfile")
    zip_errors = (zipfile.BadZipFile,) if zipfile is not None else ()
    return (OSError, ValueError, EOFError, *zip_errors)


def load_samples(path: str | os.PathLike[str]) -> Samples:
    """Read a samples ``.npz`` (see the module docstring) with clear errors. A ``.npy`` file
    is one array of inputs for a single-input model, without labels."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"Sample file {p} {not_a_file(p)}. Expected an .npz or .npy file.")
    try:
        with open(p, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                return Samples({SINGLE_INPUT_KEY: loaded}, None)
            with loaded as data:
                arrays = {k: data[k] for k in data.files}
    except _read_errors() as exc:
        raise DatasetError(
            f"Cannot read {p} as .npz or .npy ({exc}). Expected a file written by numpy.savez "
            "or numpy.save."
        ) from exc
    if "x_test" in arrays:
        return _checked(p, {SINGLE_INPUT_KEY: arrays["x_test"]}, arrays.get("y_test"))
    inputs = {k[len(INPUT_PREFIX) :]: v for k, v in arrays.items() if k.startswith(INPUT_PREFIX)}
    if SINGLE_INPUT_KEY in arrays:
        inputs = {SINGLE_INPUT_KEY: arrays[SINGLE_INPUT_KEY]}
    elif not inputs:  # keys are the model's input names
        inputs = {k: v for k, v in arrays.items() if k != LABELS_KEY}
    if not inputs:
        raise DatasetError(
            f"{p} holds {sorted(arrays)}; expected 'x' (or one array per input named "
            "'<input>' or 'x:<input>', or 'x_test'), with optional labels 'y'."
        )
    return _checked(p, inputs, arrays.get(LABELS_KEY))


def _checked(path: Path, inputs: dict[str, np.ndarray], labels: np.ndarray | None) -> Samples:
    """Samples whose arrays have a sample axis and whose labels are one class index each."""
    counts = {k: (v.shape[0] if v.ndim else None) for k, v in inputs.items()}
    if None in counts.values() or len(set(counts.values())) > 1:
        raise DatasetError(
            f"{path}: inputs must share the sample count on their first axis. Got shapes "
            f"{ {k: tuple(v.shape) for k, v in inputs.items()} }."
        )
    for name, arr in inputs.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise DatasetError(
                f"{path}: input {name!r} holds {bad} NaN/Inf value(s). Expected finite numbers; "
                "drop or replace those samples."
            )
    if labels is not None:
        count = next(iter(counts.values()))
        if labels.size and labels.dtype.kind == "i" and labels.min() < 0:
            raise DatasetError(
                f"{path}: labels must be class indices >= 0. Got {int(labels.min())}."
            )
        if labels.dtype.kind not in "iub" or labels.ndim != 1 or labels.shape[0] != count:
            raise DatasetError(
                f"{path}: labels must be {count} integer class indices (one per sample, shape "
                f"({count},)). Got shape {tuple(labels.shape)} of {labels.dtype}. Convert "
                "one-hot or string labels to indices, e.g. y.argmax(1) or np.unique(y, "
                "return_inverse=True)[1]."
            )
    return Samples(inputs, labels)


def check_label_range(labels: np.ndarray | None, classes: int, source: str) -> None:
    """Raise when a label is no index into ``classes`` class scores: accuracy would be 0
    and say nothing."""
    if labels is None or not np.asarray(labels).size:
        return
    top = int(np.asarray(labels).max())
    if top >= classes:
        raise DatasetError(
            f"Labels in {source} go up to {top}, but the model scores {classes} classes "
            f"(labels 0..{classes - 1}). Use the labels of this model's dataset."
        )


def value_range(x: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of the finite values of ``x``, rounded to 6 significant digits: the
    ``range`` / ``calibration_range`` a model card records (0, 0 for no finite value)."""
    arr = np.asarray(x)
    if not arr.size:
        return (0.0, 0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):  # only then a pass to drop NaN/Inf
        finite = arr[np.isfinite(arr)]
        if not finite.size:
            return (0.0, 0.0)
        lo, hi = float(finite.min()), float(finite.max())
    return (float(f"{lo:.6g}"), float(f"{hi:.6g}"))


def value_ranges(samples: Samples) -> dict[str, tuple[float, float]]:
    """:func:`value_range` of each input of ``samples``, by input name (``"x"`` for a
    single-input file), for ``ModelCard.with_input_ranges``."""
    return {name: value_range(arr) for name, arr in samples.inputs.items()}
