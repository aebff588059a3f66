"""Datasets shared by train, convert (calibration and evaluation data) and the pipeline.

numpy only (scikit-learn for the built-in ``digits``); no TensorFlow, no training settings::

    from edgeship.datasets import DatasetOptions, load_dataset

    splits = load_dataset(DatasetOptions(dataset="digits", seed=0))
"""

from __future__ import annotations

from edgeship.datasets.splits import (
    DatasetOptions,
    DatasetSettings,
    DataSplits,
    load_dataset,
    load_raw,
    prepare,
)

__all__ = [
    "DataSplits",
    "DatasetOptions",
    "DatasetSettings",
    "load_dataset",
    "load_raw",
    "prepare",
]
