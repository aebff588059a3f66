"""Cards for users' own models: ``edgeship card MODEL --dataset D --out DIR``.

Loads a ``.keras`` / ``.h5`` model (Keras safe mode unless ``unsafe``) or a TensorFlow
SavedModel folder, checks it takes the dataset's inputs, measures its test accuracy and
writes ``edgeship.json``, ``calibration.npz`` and ``eval.npz`` into ``out``. A ``.keras`` or
``.h5`` model is also written to ``out/model.keras`` so the folder enters the rest of the
chain like a trained one; a SavedModel is referenced where it is. A model with several inputs
or integer (token) inputs takes a samples file instead of an image dataset
(:mod:`edgeship.train.samplecard`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeship import metrics
from edgeship.card import ModelCard
from edgeship.datasets import DataSplits, load_dataset
from edgeship.errors import ArtifactExistsError, ConfigError, InvalidInputError, ModelLoadError
from edgeship.fileio import make_dirs
from edgeship.train import cardgen, samplecard
from edgeship.train.config import TrainConfig


@dataclass(frozen=True)
class CardRequest:
    """Settings of ``edgeship card``.

    Attributes:
        model: path of a ``.keras``/``.h5`` file or a SavedModel folder.
        dataset: dataset spec as for training (``digits``, ``npz:PATH``, ``dir:PATH``...).
        out: output directory.
        unsafe: load with Keras ``safe_mode=False`` (runs code stored in the file; only for
            models you trust, e.g. with Lambda layers).
        input_scale: factor mapping raw stored values to the model's input; None uses the
            dataset's scale (raw -> [0, 1]).
        image_size: resize size for ``dir:`` datasets.
        seed: seed for the split and the calibration draw.
        calibration_samples: number of calibration inputs.
        force: replace existing files in ``out``.
    """

    model: str
    dataset: str = "digits"
    out: str = "runs/card"
    unsafe: bool = False
    input_scale: float | None = None
    image_size: tuple[int, int] | None = None
    seed: int = 0
    calibration_samples: int = 200
    force: bool = False

    def __post_init__(self) -> None:
        scale = self.input_scale
        if scale is not None and not (isinstance(scale, (int, float)) and 0 < scale < math.inf):
            raise ConfigError(
                f"input_scale must be a finite number > 0 (e.g. 1/255 for 0..255 pixels). "
                f"Got: {scale!r}"
            )
        if self.image_size is not None and min(self.image_size) < 8:
            raise ConfigError(f"image_size must be at least 8 pixels. Got: {self.image_size}")
        if self.calibration_samples < 10:
            raise ConfigError(
                "calibration_samples must be at least 10 (convert needs 10 to calibrate). "
                f"Got: {self.calibration_samples}"
            )


def load_user_model(path: str, unsafe: bool = False) -> Any:
    """Load a ``.keras``/``.h5`` file or a SavedModel folder as a Keras model."""
    import keras

    from edgeship.modelfile import (
        check_model_file,
        is_safe_mode_refusal,
        safe_mode_refusal,
        warn_unsafe_load,
    )

    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"Model {p} does not exist. Expected a .keras/.h5 file or folder.")
    check_model_file(p)
    if p.is_dir():
        return _wrap_saved_model(p)
    if unsafe:
        warn_unsafe_load()
    try:
        return keras.saving.load_model(p, safe_mode=not unsafe, compile=False)
    except ValueError as exc:
        if is_safe_mode_refusal(exc):
            raise ModelLoadError(safe_mode_refusal(p)) from exc
        raise ModelLoadError(f"Cannot load {p} as a Keras model: {exc}") from exc
    except (OSError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"Cannot load {p} as a Keras model: {exc}") from exc


def _wrap_saved_model(path: Path) -> Any:
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        fn = loaded.signatures["serving_default"]
    except (KeyError, OSError, ValueError, tf.errors.OpError) as exc:
        raise ModelLoadError(
            f"Cannot load SavedModel {path} with a 'serving_default' signature: {exc}"
        ) from exc
    specs = fn.structured_input_signature[1]
    if len(specs) != 1:
        raise ModelLoadError(f"SavedModel {path} takes {len(specs)} inputs; expected one.")
    name, spec = next(iter(specs.items()))
    inputs = keras.Input(shape=tuple(spec.shape[1:]), name=name, dtype=spec.dtype.name)
    keys = sorted(fn.structured_outputs)
    layer_name = keys[0] if len(keys) == 1 else "saved_model"
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default", name=layer_name)
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs)]
    return keras.Model(inputs, outputs, name=path.name)


def make_card(request: CardRequest) -> ModelCard:
    """Write card, calibration and eval files for ``request.model``; return the card."""
    out = Path(request.out)
    if (out / "edgeship.json").exists() and not request.force:
        raise ArtifactExistsError(
            f"{out / 'edgeship.json'} already exists. Pass --force to replace it."
        )
    model = load_user_model(request.model, request.unsafe)
    if samplecard.needs_samples(model):  # several inputs or token ids: a samples file
        return samplecard.make_samples_card(request, model, out)
    config = TrainConfig(dataset=request.dataset, seed=request.seed, image_size=request.image_size)
    data = load_dataset(config)
    if request.input_scale is not None:
        data = _rescale(data, request.input_scale)
    _check_inputs(model, data, request.model)
    probs = np.asarray(_single(model.predict(data.x_test, verbose=0)))
    if probs.ndim != 2 or probs.shape[1] != data.num_classes:
        raise InvalidInputError(
            f"Model {request.model} outputs shape {probs.shape[1:]} per sample; dataset "
            f"{data.name} has {data.num_classes} classes. Expected ({data.num_classes},)."
        )
    accuracy = metrics.accuracy(probs, data.y_test)
    make_dirs(out)
    cardgen.write_samples(out, data, request.calibration_samples, request.seed)
    card = cardgen.classifier_card(
        model,
        data,
        name=Path(request.model).stem or "model",
        metrics={"test_accuracy": accuracy},
        training={"source_model": str(Path(request.model).resolve()), "trained_by": "user"},
    )
    if Path(request.model).is_dir():
        card = dataclasses.replace(card, files={**card.files, "model": str(Path(request.model))})
    else:
        cardgen.save_model_atomic(model, out / cardgen.MODEL_FILENAME)
    card.save(out)
    return card


def _single(outputs: Any) -> Any:
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise InvalidInputError(
                f"edgeship card expects a single-output classifier. Got {len(outputs)} outputs."
            )
        return outputs[0]
    return outputs


def _check_inputs(model: Any, data: DataSplits, path: str) -> None:
    if len(model.inputs) != 1:
        raise InvalidInputError(
            f"Model {path} has {len(model.inputs)} inputs; edgeship card supports one."
        )
    expected = tuple(model.inputs[0].shape[1:])
    got = data.input_shape
    if len(expected) != len(got) or any(
        e is not None and e != g for e, g in zip(expected, got, strict=False)
    ):
        raise InvalidInputError(
            f"Model {path} expects inputs of shape {expected} per sample; dataset {data.name} "
            f"gives {got}. Pick the dataset the model was trained on (or --image-size)."
        )


def _rescale(data: DataSplits, scale: float) -> DataSplits:
    factor = np.float32(scale / data.scale)
    return dataclasses.replace(
        data,
        x_train=data.x_train * factor,
        x_val=data.x_val * factor,
        x_test=data.x_test * factor,
        scale=float(scale),
    )
