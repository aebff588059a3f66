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
    drop_remainder: bool = False,
) -> Any:
    """A ``keras.utils.PyDataset`` of ``(x, y)`` batches, shuffled each epoch when training.

    Args:
        x: inputs; y: labels.
        batch_size: samples per batch.
        training: shuffle every epoch and apply ``augment``.
        seed: seed of the shuffling.
        augment: a Keras model applied with ``training=True`` to each training batch.
        drop_remainder: leave out a last partial batch (data parallel training needs every
            batch to split evenly over the devices).
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
            count = len(x) / batch_size
            return max(1, int(count) if drop_remainder else math.ceil(count))

        def __getitem__(self, index: int) -> tuple[Any, Any]:
            rows = self.order[index * batch_size : (index + 1) * batch_size]
            xb, yb = x[rows], y[rows]
            if training and augment is not None:
                xb = keras.ops.convert_to_numpy(augment(xb, training=True))
            return xb, yb

        def on_epoch_end(self) -> None:
            if training:
                self.rng.shuffle(self.order)

    return ArrayDataset()
