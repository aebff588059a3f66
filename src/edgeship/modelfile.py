"""Cheap checks of a Keras model path (no TensorFlow): what train, convert and the pipeline
accept as a model before any process loads it or any file is written, and the one opt-in
(``--unsafe`` / ``unsafe=True``) that card, convert and pipeline share for models that hold
code."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

from edgeship.errors import ConfigError, ModelLoadError, UnsafeLoadWarning, opt_in

#: What every command that loads a Keras model with ``--unsafe`` says, word for word.
UNSAFE_LOAD_WARNING = (
    "loading the Keras model with safe_mode off (--unsafe): code stored in the file (e.g. a "
    "Lambda layer) runs with your permissions. Use it only for files you trust."
)


def warn_unsafe_load(stacklevel: int = 3) -> None:
    """Emit :data:`UNSAFE_LOAD_WARNING` as an :class:`~edgeship.errors.UnsafeLoadWarning`."""
    warnings.warn(UNSAFE_LOAD_WARNING, UnsafeLoadWarning, stacklevel=stacklevel)


def is_safe_mode_refusal(exc: BaseException) -> bool:
    """True when Keras refused to load a model because safe mode forbids its stored code."""
    text = str(exc)
    return "safe_mode" in text or "Lambda" in text


def safe_mode_refusal(path: Path) -> str:
    """The message for a model that safe mode refuses to load (same in every command)."""
    return (
        f"{path} holds code (e.g. a Lambda layer) that Keras safe mode refuses to run. "
        f"If you trust the file, {opt_in('--unsafe', 'unsafe')}."
    )


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
