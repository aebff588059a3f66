"""Cards for models with several inputs or integer (token) inputs, from a samples file.

An image dataset (``digits``, ``dir:PATH``...) feeds one image input; a model that takes
several inputs, or token ids, gets its data from a samples ``.npz`` instead
(``--dataset npz:PATH``): one array per input, named by the model's input names (``x:<name>``
or ``<name>``, as :func:`edgeship.samples.save_samples` writes them), and optional labels
``y``. The card records every input (name, shape, dtype, the value range of the data), and
``calibration.npz`` / ``eval.npz`` hold arrays keyed by input name, so convert, parity and
bench treat the model like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeship import metrics
from edgeship.card import ModelCard
from edgeship.errors import InvalidInputError
from edgeship.fileio import make_dirs
from edgeship.samples import SINGLE_INPUT_KEY, Samples, load_samples, save_samples, value_range
from edgeship.train import cardgen

#: Share of the samples kept for ``eval.npz`` (the rest is the calibration pool).
EVAL_SHARE = 0.25
MIN_CALIBRATION = 10


def needs_samples(model: Any) -> bool:
    """True for a model an image dataset cannot feed: several inputs, or an integer input."""
    inputs = list(model.inputs)
    return len(inputs) != 1 or np.dtype(str(inputs[0].dtype)).kind in "iub"


def samples_path(dataset: str, model_path: str, count: int) -> Path:
    """The samples file of ``--dataset npz:PATH`` (InvalidInputError for any other dataset)."""
    if not dataset.startswith("npz:"):
        raise InvalidInputError(
            f"Model {model_path} takes {count} input(s), or integer token ids, which an image "
            f"dataset cannot feed. Expected --dataset npz:PATH with one array per input "
            f"(named by input, e.g. written by edgeship.samples.save_samples) and labels 'y'. "
            f"Got: --dataset {dataset}"
        )
    return Path(dataset[len("npz:") :])


def _matched(model: Any, samples: Samples, path: Path) -> dict[str, np.ndarray]:
    """The samples' arrays by model input name, checked against each input's shape and
    dtype and cast to it."""
    names = [str(t.name) for t in model.inputs]
    given = dict(samples.inputs)
    if list(given) == [SINGLE_INPUT_KEY] and len(names) == 1:
        given = {names[0]: given[SINGLE_INPUT_KEY]}
    if sorted(given) != sorted(names):
        raise InvalidInputError(
            f"{path} holds inputs {sorted(given)}; the model's inputs are {sorted(names)}. "
            "Name one array per model input (keys '<input>' or 'x:<input>')."
        )
    out = {}
    for tensor in model.inputs:
        name, arr = str(tensor.name), given[str(tensor.name)]
        want = tuple(tensor.shape[1:])
        dtype = np.dtype(str(tensor.dtype))
        if arr.ndim - 1 != len(want) or any(
            w is not None and w != g for w, g in zip(want, arr.shape[1:], strict=False)
        ):
            raise InvalidInputError(
                f"Input {name!r} of the model takes shape {want} per sample; {path} gives "
                f"{tuple(arr.shape[1:])}."
            )
        if dtype.kind in "iu" and arr.dtype.kind not in "iu":
            raise InvalidInputError(
                f"Input {name!r} takes {dtype.name} token ids; {path} gives {arr.dtype.name} "
                "values. Store integer ids (e.g. np.int32)."
            )
        out[name] = arr.astype(dtype, copy=False)
    return out


def make_samples_card(request: Any, model: Any, out: Path) -> ModelCard:
    """Write card, calibration and eval files for a multi-input or token-input model.

    Args:
        request: the :class:`~edgeship.train.owncard.CardRequest`.
        model: the loaded Keras model.
        out: output directory.
    """
    path = samples_path(request.dataset, request.model, len(model.inputs))
    samples = load_samples(path)
    arrays = _matched(model, samples, path)
    count = len(samples)
    n_eval = max(1, round(count * EVAL_SHARE))
    if count - n_eval < MIN_CALIBRATION:
        raise InvalidInputError(
            f"{path} holds {count} samples; expected at least {MIN_CALIBRATION + n_eval} "
            f"({MIN_CALIBRATION} to calibrate, {n_eval} to evaluate)."
        )
    order = np.random.default_rng(request.seed).permutation(count)
    eval_idx, cal_idx = order[:n_eval], order[n_eval:][: request.calibration_samples]
    evals = {k: v[eval_idx] for k, v in arrays.items()}
    labels = None if samples.labels is None else samples.labels[eval_idx].astype(np.int64)
    outputs = model.predict(evals, verbose=0)
    outputs = list(outputs.values()) if isinstance(outputs, dict) else outputs
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    scores = [np.asarray(o) for o in outputs if np.ndim(o) == 2 and np.shape(o)[1] > 1]
    found: dict[str, Any] = {}
    class_names = None
    if len(scores) == 1:
        class_names = tuple(str(i) for i in range(scores[0].shape[1]))
        if labels is not None:
            found["test_accuracy"] = metrics.accuracy(scores[0], labels)
    make_dirs(out)
    save_samples(out / cardgen.CALIBRATION_FILENAME, {k: v[cal_idx] for k, v in arrays.items()})
    save_samples(out / cardgen.EVAL_FILENAME, evals, labels)
    card = cardgen.build_card(
        model,
        name=Path(request.model).stem or "model",
        labels=class_names,
        preprocessing={},
        dataset={
            "name": request.dataset,
            "kind": "samples",
            "splits": {"calibration": len(cal_idx), "eval": n_eval},
        },
        metrics=found,
        training={"source_model": str(Path(request.model).resolve()), "trained_by": "user"},
    )
    card = card.with_input_ranges({k: value_range(v) for k, v in arrays.items()}, "training")
    cardgen.save_model_atomic(model, out / cardgen.MODEL_FILENAME)
    card.save(out)
    return card
