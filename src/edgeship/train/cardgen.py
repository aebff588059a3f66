"""Write what later steps need beside a model: the card, calibration and eval samples.

* ``edgeship.json``: :class:`edgeship.card.ModelCard` (tensors, labels, preprocessing,
  dataset, metrics, training record, package versions, file names).
* ``calibration.npz``: representative training inputs for post-training quantization.
* ``eval.npz``: the test split inputs (model-input space) with their labels.
* ``model.keras``: saved atomically, so an interrupted run never leaves a partial model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.card import ModelCard, Preprocessing, TensorInfo
from edgeship.datasets import DataSplits
from edgeship.samples import save_samples, value_range
from edgeship.versions import installed_versions

MODEL_FILENAME = "model.keras"
CALIBRATION_FILENAME = "calibration.npz"
EVAL_FILENAME = "eval.npz"
HISTORY_FILENAME = "history.csv"


def save_model_atomic(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a Keras model to ``path`` (``.keras``) through a temporary file and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tmp = tmp_dir / target.name
        model.save(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def tensor_infos(tensors: Any, names: list[str] | None = None) -> tuple[TensorInfo, ...]:
    """Card tensor descriptions of Keras model inputs or outputs."""
    infos = []
    for i, tensor in enumerate(tensors):
        name = names[i] if names and i < len(names) else getattr(tensor, "name", f"t{i}")
        shape = tuple(None if d is None else int(d) for d in tensor.shape)
        dtype = getattr(tensor, "dtype", "float32")
        infos.append(TensorInfo(name=str(name), shape=shape, dtype=str(dtype)))
    return tuple(infos)


def build_card(
    model: Any,
    *,
    name: str,
    task: str = "classification",
    labels: tuple[str, ...] | None,
    preprocessing: dict[str, Any],
    dataset: dict[str, Any],
    metrics: dict[str, Any],
    training: dict[str, Any],
) -> ModelCard:
    """Assemble the model card of ``model``."""
    output_names = list(getattr(model, "output_names", None) or [])
    return ModelCard(
        name=name,
        task=task,
        inputs=tensor_infos(model.inputs),
        outputs=tensor_infos(model.outputs, output_names),
        labels=labels,
        preprocessing=Preprocessing.from_dict(preprocessing),
        dataset=dataset,
        metrics=metrics,
        training=training,
        versions=installed_versions(),
        files={
            "model": MODEL_FILENAME,
            "calibration": CALIBRATION_FILENAME,
            "eval": EVAL_FILENAME,
        },
    )


def classifier_card(
    model: Any,
    data: DataSplits,
    *,
    name: str,
    metrics: dict[str, Any],
    training: dict[str, Any],
) -> ModelCard:
    """Card of a classifier trained (or evaluated) on ``data``, with the value ranges of its
    input: ``range`` in the model's input domain and the raw arrays' ``raw_range``."""
    card = build_card(
        model,
        name=name,
        labels=data.labels,
        preprocessing=data.preprocessing() | {"raw_range": raw_range(data)},
        dataset={
            "name": data.name,
            "kind": data.kind,
            "num_classes": data.num_classes,
            "splits": data.split_sizes(),
        },
        metrics=metrics,
        training=training,
    )
    return card.with_input_ranges([value_range(data.x_train)], "training")


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def raw_range(data: DataSplits) -> list[float]:
    """The range of the dataset's raw stored values (model inputs divided by the scale),
    e.g. ``[0, 16]`` for digits and ``[0, 255]`` for 8-bit images."""
    lo, hi = value_range(data.x_train)
    scale = data.scale if data.scale > 0 else 1.0
    return [_round(lo / scale), _round(hi / scale)]


def calibration_indices(y: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` samples spread evenly over the classes of ``y``."""
    rng = np.random.default_rng(seed)
    count = min(count, len(y))
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    picked: list[int] = []
    rank = 0
    while len(picked) < count:
        for members in per_class:
            if rank < len(members) and len(picked) < count:
                picked.append(int(members[rank]))
        rank += 1
    return np.sort(np.asarray(picked, dtype=np.int64))


def write_samples(
    out: Path, data: DataSplits, count: int, seed: int, input_name: str | None = None
) -> None:
    """Write ``calibration.npz`` (from the training split) and ``eval.npz`` (test split)."""
    idx = calibration_indices(data.y_train, count, seed)
    calib = data.x_train[idx]
    inputs: Any = {input_name: calib} if input_name else calib
    save_samples(out / CALIBRATION_FILENAME, inputs)
    evals: Any = {input_name: data.x_test} if input_name else data.x_test
    save_samples(out / EVAL_FILENAME, evals, data.y_test.astype(np.int64))
