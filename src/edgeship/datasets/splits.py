"""Datasets: load, validate, scale and split (stratified), with numpy only.

The arrays in :class:`DataSplits` are model inputs: stored values times the dataset's scale
(so ``[0, 1]``), float32, images as ``(N, H, W, C)`` and sequences as ``(N, T, F)``. The
card's preprocessing records that scale so a device can map raw data the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgeship.datasets import raw as sources
from edgeship.errors import DatasetError


class DatasetSettings(Protocol):
    """How to load and split a dataset (``edgeship.train.TrainConfig`` has these fields)."""

    @property
    def dataset(self) -> str: ...

    @property
    def seed(self) -> int: ...

    @property
    def validation_split(self) -> float: ...

    @property
    def test_split(self) -> float: ...

    @property
    def image_size(self) -> tuple[int, int] | None: ...

    @property
    def max_samples(self) -> int | None: ...


@dataclass(frozen=True)
class DatasetOptions:
    """:class:`DatasetSettings` for callers that do not train (calibration, evaluation).

    Attributes:
        dataset: a dataset name (``digits``, ``digits-seq``, ``mnist``, ``npz:PATH``...).
        seed: seed of the splits.
        validation_split: fraction of the training data held out for validation.
        test_split: fraction held out for testing when the dataset has no test split.
        image_size: resize images of a ``dir:`` dataset to this (height, width).
        max_samples: use at most this many training samples.
    """

    dataset: str = "digits"
    seed: int = 0
    validation_split: float = 0.1
    test_split: float = 0.2
    image_size: tuple[int, int] | None = None
    max_samples: int | None = None


@dataclass(frozen=True)
class DataSplits:
    """Train/validation/test arrays in model-input space plus what the card needs."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: tuple[str, ...]
    scale: float
    kind: str
    flip_ok: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.labels)

    @property
    def color_mode(self) -> str | None:
        """``grayscale``/``rgb`` for images, None otherwise."""
        if self.kind != "image":
            return None
        return "grayscale" if self.input_shape[-1] == 1 else "rgb"

    def split_sizes(self) -> dict[str, int]:
        """Number of samples per split."""
        return {"train": len(self.x_train), "validation": len(self.x_val), "test": len(self.x_test)}

    def preprocessing(self) -> dict[str, Any]:
        """The card's preprocessing: raw stored values times ``scale`` give model inputs."""
        image = self.kind == "image"
        return {
            "scale": self.scale,
            "offset": 0.0,
            "mean": None,
            "std": None,
            "layout": "NHWC" if image else "NTC",
            "image_size": list(self.input_shape[:2]) if image else None,
            "color_mode": self.color_mode,
        }


def load_raw(config: DatasetSettings) -> sources.RawData:
    """Return the stored arrays of ``config.dataset``."""
    name = config.dataset
    if name == "digits":
        return sources.load_digits()
    if name == "digits-seq":
        return sources.load_digits_sequence()
    if name in ("mnist", "fashion_mnist"):
        return sources.load_mnist(name)
    if name == "cifar10":
        return sources.load_cifar10()
    if name.startswith("npz:"):
        return sources.load_npz(name[4:])
    if name.startswith("dir:"):
        return sources.load_image_folder(name[4:], config.image_size, config.seed)
    raise DatasetError(f"Unknown dataset {name!r}.")


def load_dataset(config: DatasetSettings) -> DataSplits:
    """Load, validate, scale and split ``config.dataset`` (before any model is built)."""
    raw = load_raw(config)
    return prepare(raw, config, name=config.dataset)


def prepare(raw: sources.RawData, config: DatasetSettings, name: str) -> DataSplits:
    """Validate ``raw`` and turn it into stratified train/validation/test splits."""
    x_train, y_train = _inputs(raw.x_train, raw.kind, name, "x_train"), _labels(raw.y_train, name)
    _same_length(x_train, y_train, name, "train")
    if raw.x_test is not None and raw.y_test is not None:
        x_test = _inputs(raw.x_test, raw.kind, name, "x_test")
        y_test = _labels(raw.y_test, name)
        _same_length(x_test, y_test, name, "test")
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DatasetError(
                f"Dataset {name}: test inputs have shape {x_test.shape[1:]}, train inputs "
                f"{x_train.shape[1:]}. Expected the same shape per sample."
            )
    else:
        x_train, x_test, y_train, y_test = _split(x_train, y_train, config.test_split, config.seed)
    all_labels = np.concatenate([y_train, y_test])
    num_classes = len(raw.labels) if raw.labels is not None else int(all_labels.max()) + 1
    if all_labels.min() < 0 or all_labels.max() >= num_classes:
        raise DatasetError(
            f"Dataset {name}: labels must be integers in 0..{num_classes - 1} "
            f"({num_classes} classes). Got values from {int(all_labels.min())} to "
            f"{int(all_labels.max())}. Fix the labels or the class_names list."
        )
    if num_classes < 2:
        raise DatasetError(f"Dataset {name}: expected at least 2 classes. Got {num_classes}.")
    if config.max_samples is not None:
        x_train, y_train = _subset(x_train, y_train, config.max_samples, config.seed)
        x_test, y_test = _subset(x_test, y_test, max(config.max_samples // 4, 10), config.seed)
    x_train, x_val, y_train, y_val = _split(
        x_train, y_train, config.validation_split, config.seed + 1
    )
    labels = raw.labels or tuple(str(i) for i in range(num_classes))
    scale = float(raw.scale)
    return DataSplits(
        name=name,
        x_train=(x_train * scale).astype(np.float32),
        y_train=y_train,
        x_val=(x_val * scale).astype(np.float32),
        y_val=y_val,
        x_test=(x_test * scale).astype(np.float32),
        y_test=y_test,
        labels=tuple(labels),
        scale=scale,
        kind=raw.kind,
        flip_ok=raw.flip_ok,
    )


def _inputs(x: np.ndarray, kind: str, name: str, key: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "uif" or x.size == 0:
        raise DatasetError(
            f"Dataset {name}: {key} must be a non-empty numeric array. Got dtype {x.dtype} "
            f"and shape {x.shape}."
        )
    if kind == "image" and x.ndim == 3:
        x = x[..., np.newaxis]  # (N, H, W) grayscale -> (N, H, W, 1)
    expected = 4 if kind == "image" else 3
    if x.ndim != expected:
        layout = "(N, H, W) or (N, H, W, C)" if kind == "image" else "(N, T, F)"
        raise DatasetError(
            f"Dataset {name}: {key} has shape {x.shape}. Expected {kind} data of shape {layout}."
        )
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DatasetError(f"Dataset {name}: {key} holds NaN or infinite values.")
    return x


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or y.dtype.kind not in "uif":
        raise DatasetError(
            f"Dataset {name}: labels must be integer class ids of shape (N,) or one-hot (N, K). "
            f"Got dtype {y.dtype} and shape {y.shape}."
        )
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        raise DatasetError(f"Dataset {name}: labels must be whole numbers (class ids).")
    return y.astype(np.int64)


def _same_length(x: np.ndarray, y: np.ndarray, name: str, split: str) -> None:
    if len(x) != len(y):
        raise DatasetError(
            f"Dataset {name}: {split} split has {len(x)} inputs but {len(y)} labels. "
            "Expected one label per input."
        )


def _split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split (falls back to a plain random split when a class is too small)."""
    from sklearn.model_selection import train_test_split

    if len(x) < 4:
        raise DatasetError(f"Expected at least 4 samples to split. Got {len(x)}.")
    try:
        return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:
        return train_test_split(x, y, test_size=fraction, random_state=seed)


def _subset(x: np.ndarray, y: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if count >= len(x):
        return x, y
    _, x_sub, _, y_sub = _split(x, y, count / len(x), seed)
    return x_sub, y_sub
