"""What the JAX and PyTorch backends share: a data feed without TensorFlow and one-device
training.

The data feed is a ``keras.utils.PyDataset`` over numpy arrays: shuffled each epoch (with
its own seeded generator), batched, and augmented on the training split only by the Keras
preprocessing layers of :mod:`edgeship.train.augment` (which run on any backend).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def without_tensorflow() -> Iterator[None]:
    """Keras on JAX or PyTorch, kept from importing TensorFlow while training.

    Keras probes for TensorFlow wherever it might meet TensorFlow objects (seeding, saving,
    variables) and imports it when it is installed: seconds and hundreds of MiB that a
    JAX or PyTorch run never uses. Inside this block Keras's lazy handle on TensorFlow reads
    as absent, unless TensorFlow was imported already.
    """
    from keras.src.utils import module_utils  # Keras's own lazy handle (no public switch)

    lazy = getattr(module_utils, "tensorflow", None)
    if lazy is None or getattr(lazy, "module", None) is not None:
        yield
        return
    previous = lazy._available
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = previous


class LocalStrategy:
    """One process, ``replicas`` devices: what the loop asks of a strategy."""

    def __init__(self, replicas: int = 1) -> None:
        self.num_replicas_in_sync = replicas

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Nothing to enter: the backend places variables itself."""
        yield


def make_array_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: Any = None,
    multiple: int = 1,
) -> Any:
    """A ``keras.utils.PyDataset`` of ``(x, y)`` batches, shuffled each epoch when training.

    Args:
        x: inputs; y: labels.
        batch_size: samples per batch.
        training: shuffle every epoch and apply ``augment``.
        seed: seed of the shuffling.
        augment: a Keras model applied with ``training=True`` to each training batch.
        multiple: every batch holds a multiple of this many samples (data parallel: one
            share per device). A training epoch leaves out a last batch that does not split
            evenly (it is shuffled anew next epoch); validation and test batches are padded
            with repeated samples of weight 0, so that every sample counts exactly once.
    """
    import keras

    class ArrayDataset(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(x))
            if training:
                self.rng.shuffle(self.order)

        def __len__(self) -> int:
            if training and multiple > 1:
                return max(1, len(x) // batch_size)
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, index: int) -> tuple[Any, ...]:
            rows = self.order[index * batch_size : (index + 1) * batch_size]
            if training and multiple > 1:
                rows = rows[: len(rows) - len(rows) % multiple] if len(rows) >= multiple else rows
            xb, yb = x[rows], y[rows]
            if training and augment is not None:
                xb = keras.ops.convert_to_numpy(augment(xb, training=True))
            pad = -len(rows) % multiple
            if training or not pad:
                return xb, yb
            weights = np.concatenate([np.ones(len(rows)), np.zeros(pad)]).astype(np.float32)
            fill = np.resize(np.arange(len(rows)), pad)
            return np.concatenate([xb, xb[fill]]), np.concatenate([yb, yb[fill]]), weights

        def on_epoch_end(self) -> None:
            if training:
                self.rng.shuffle(self.order)

    return ArrayDataset()
