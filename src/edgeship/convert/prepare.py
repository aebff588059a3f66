"""What ``convert`` checks and reads before converting: model file, output directory, card,
calibration and eval data. numpy-only, so bad input fails before TensorFlow starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeship import modelfile
from edgeship.card import CARD_FILENAME, ModelCard, load_card
from edgeship.convert import calibration as calib
from edgeship.convert.variants import ConvertOptions, Precision, VariantSpec
from edgeship.errors import ArtifactExistsError, DatasetError, opt_in
from edgeship.fileio import make_dirs
from edgeship.manifest import ARTIFACT_SUFFIXES, MANIFEST_FILENAME

EVAL_SAMPLES = 1000


def check_model_file(source: Path, opts: ConvertOptions | None = None) -> None:
    """:func:`edgeship.modelfile.check_model_file` with the batch size of ``opts``."""
    modelfile.check_model_file(source, opts.batch_size if opts is not None else None)


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
            f"{opt_in('--force', 'force')} to replace them."
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
