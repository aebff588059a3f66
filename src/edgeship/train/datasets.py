"""Training input: tf.data pipelines over the splits of :mod:`edgeship.datasets`.

``DataSplits``, ``load_dataset``, ``load_raw`` and ``prepare`` live in
:mod:`edgeship.datasets` and are re-exported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship.datasets import DataSplits, load_dataset, load_raw, prepare

__all__ = ["DataSplits", "load_dataset", "load_raw", "make_tf_dataset", "prepare"]


def make_tf_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: Any = None,
) -> Any:
    """A ``tf.data.Dataset`` of ``(x, y)`` batches: cache, shuffle (training), batch,
    augment (training, when given), prefetch. Sharded by data for multi-worker runs.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        ds = ds.shuffle(min(len(x), 10_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augment is not None:
        ds = ds.map(
            lambda xb, yb: (augment(xb, training=True), yb),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
