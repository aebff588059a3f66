"""Cheap checks of a Keras model path (no TensorFlow): what train, convert and the pipeline
accept as a model before any process loads it or any file is written."""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgeship.errors import ConfigError, ModelLoadError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def check_model_file(source: Path, batch_size: int | None = None) -> None:
    """Cheap checks of a model path (no TensorFlow), before any process loads it or any
    file is written.

    Raises:
        ModelLoadError: not a .keras/.h5 file or SavedModel directory, or not a valid one.
        ConfigError: ``batch_size`` asks for a fixed batch of a SavedModel.
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
        if batch_size is not None:
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
