"""What ``convert`` checks and reads before converting: model file, output directory, card,
calibration and eval data. numpy-only, so bad input fails before TensorFlow starts."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.card import CARD_FILENAME, ModelCard, load_card
from edgeship.convert import calibration as calib
from edgeship.convert.manifest import MANIFEST_FILENAME
from edgeship.convert.variants import ConvertOptions, Precision, VariantSpec
from edgeship.errors import ArtifactExistsError, ConfigError, DatasetError, ModelLoadError
from edgeship.fileio import make_dirs

EVAL_SAMPLES = 1000
ARTIFACT_SUFFIXES = (".tflite", ".onnx")


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def check_model_file(source: Path, opts: ConvertOptions | None = None) -> None:
    """Cheap checks of a model path (no TensorFlow), before any process loads it or any
    file is written.

    Raises:
        ModelLoadError: not a .keras/.h5 file or SavedModel directory, or not a valid one.
        ConfigError: ``opts`` asks for a fixed batch of a SavedModel.
    """
    if source.is_dir():
        if not (source / "saved_model.pb").is_file():
            inside = sorted(p.name for p in source.glob("*.keras")) + sorted(
                p.name for p in source.glob("*.h5")
            )
            hint = f" It holds {inside[0]}: pass {source / inside[0]}." if inside else ""
            raise ModelLoadError(
                f"{source} is a directory without saved_model.pb. Expected a SavedModel "
                f"directory, a .keras file or an .h5 file.{hint}"
            )
        if opts is not None and opts.batch_size is not None:
            raise ConfigError(
                f"A fixed batch size needs a Keras model; {source} is a SavedModel, whose "
                "signature sets the batch. Convert the .keras file, or export the SavedModel "
                "with a fixed batch."
            )
        return
    suffix = source.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelLoadError(
            f"Cannot convert {source.name}: expected a .keras or .h5 file or a SavedModel "
            f"directory. Got suffix {suffix!r}."
        )
    with open(source, "rb") as fh:
        head = fh.read(8)
    if suffix == ".keras" and not zipfile.is_zipfile(source):
        raise ModelLoadError(
            f"{source} is not a valid .keras file (expected a zip archive written by "
            "model.save('model.keras')). The file is corrupt or of another format."
        )
    if suffix in (".h5", ".hdf5") and head != _HDF5_MAGIC:
        raise ModelLoadError(
            f"{source} is not a valid HDF5 (.h5) file. Expected a model saved with "
            "model.save('model.h5'); the file is corrupt or of another format."
        )


def prepare_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ArtifactExistsError(f"{out} is a file. Expected an output directory.")
    existing = (
        sorted(
            p.name
            for p in out.glob("*")
            if p.suffix in ARTIFACT_SUFFIXES or p.name == MANIFEST_FILENAME
        )
        if out.is_dir()
        else []
    )
    if existing and not force:
        raise ArtifactExistsError(
            f"{out} already holds {', '.join(existing[:6])}. Expected an empty output directory; "
            "pass --force (force=True) to replace them."
        )
    # Nothing is written here: convert builds beside ``out`` and swaps the folder in whole.
    make_dirs(out.parent)


def card_for(source: Path) -> ModelCard | None:
    folder = source if source.is_dir() else source.parent
    for candidate in (
        folder / CARD_FILENAME,
        folder.parent / CARD_FILENAME if source.is_dir() else None,
    ):
        if candidate is not None and candidate.is_file():
            return load_card(candidate)
    return None


def eval_data(
    given: Any, source: Path, card: ModelCard | None, inputs: tuple[Any, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray | None, str]:
    path = given if given is not None else calib.find_default(source, card, "eval")
    if path is None:
        path = calib.find_default(source, card, "calibration")
    if path is None:
        return calib.random_inputs(inputs), None, "random (no eval data found)"
    samples = calib.load_source(path, "eval")
    arrays, labels = calib.match_inputs(samples, inputs, "eval", count=EVAL_SAMPLES)
    return arrays, labels, os.fspath(path)


def calibration_data(
    given: Any,
    source: Path,
    card: ModelCard | None,
    inputs: tuple[Any, ...],
    specs: tuple[VariantSpec, ...],
    opts: ConvertOptions,
) -> tuple[dict[str, np.ndarray] | None, str | None]:
    needed = any(s.needs_calibration or s.name == "onnx-int8" for s in specs)
    # --debug-quant of dynamic-range and fp16 variants runs on calibration samples too.
    wanted = opts.debug_quant and any(s.precision is not Precision.FP32 for s in specs)
    if not needed and not wanted and given is None:
        return None, None
    path = given if given is not None else calib.find_default(source, card, "calibration")
    if path is None and not needed:
        return None, None
    if path is None:
        names = [s.name for s in specs if s.needs_calibration or s.name == "onnx-int8"]
        raise DatasetError(
            f"Variants {names} need calibration data and none was found beside {source}. "
            "Pass --calibration FILE.npz or a dataset name (e.g. 'digits')."
        )
    samples = calib.load_source(path, "calibration")
    arrays, _ = calib.match_inputs(
        samples,
        inputs,
        "calibration",
        count=opts.calibration_samples,
        minimum=calib.MIN_CALIBRATION_SAMPLES,
    )
    return arrays, os.fspath(path)
