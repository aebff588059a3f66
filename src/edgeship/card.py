"""The model card (``edgeship.json``): what later steps need to know about a model.

Schema ``edgeship.card/1``. numpy-free and TensorFlow-free so the runtime can read it.

Preprocessing maps a raw input ``x`` (e.g. pixel values 0..255, or 0..16 for digits) to the
model's input: ``y = (x * scale + offset - mean) / std``, applied per channel when ``mean``
and ``std`` are lists. ``layout`` is ``"NHWC"`` or ``"NCHW"``; ``image_size`` is
``[height, width]``; ``color_mode`` is ``"grayscale"`` or ``"rgb"``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeship.errors import ModelLoadError
from edgeship.fileio import atomic_write_json, read_json

CARD_SCHEMA = "edgeship.card/1"
CARD_FILENAME = "edgeship.json"


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape (None for a free dimension) and dtype of one model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorInfo:
        return cls(
            name=str(data["name"]),
            shape=tuple(None if d is None else int(d) for d in data["shape"]),
            dtype=str(data.get("dtype", "float32")),
        )


@dataclass(frozen=True)
class Preprocessing:
    """How to turn raw data into model input (see the module docstring)."""

    scale: float = 1.0
    offset: float = 0.0
    mean: float | tuple[float, ...] | None = None
    std: float | tuple[float, ...] | None = None
    layout: str = "NHWC"
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Preprocessing:
        if not data:
            return cls()
        mean, std = data.get("mean"), data.get("std")
        size = data.get("image_size")
        return cls(
            scale=float(data.get("scale", 1.0)),
            offset=float(data.get("offset", 0.0)),
            mean=tuple(mean) if isinstance(mean, list) else mean,
            std=tuple(std) if isinstance(std, list) else std,
            layout=str(data.get("layout", "NHWC")),
            image_size=(int(size[0]), int(size[1])) if size else None,
            color_mode=data.get("color_mode"),
        )


@dataclass(frozen=True)
class ModelCard:
    """Everything later steps need: tensors, labels, preprocessing, data, metrics, provenance."""

    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    task: str = "classification"
    labels: tuple[str, ...] | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    dataset: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, with the ``schema`` field first."""
        data = asdict(self)
        data["inputs"] = [asdict(t) | {"shape": list(t.shape)} for t in self.inputs]
        data["outputs"] = [asdict(t) | {"shape": list(t.shape)} for t in self.outputs]
        data["labels"] = list(self.labels) if self.labels is not None else None
        return {"schema": CARD_SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Build a card from its JSON form, checking the schema."""
        schema = data.get("schema")
        if schema != CARD_SCHEMA:
            raise ModelLoadError(
                f"Expected a model card with schema '{CARD_SCHEMA}'. Got: {schema!r}. "
                "Write one with 'edgeship card MODEL --dataset D --out DIR'."
            )
        try:
            labels = data.get("labels")
            return cls(
                name=str(data.get("name", "model")),
                task=str(data.get("task", "classification")),
                inputs=tuple(TensorInfo.from_dict(t) for t in data["inputs"]),
                outputs=tuple(TensorInfo.from_dict(t) for t in data["outputs"]),
                labels=tuple(str(x) for x in labels) if labels is not None else None,
                preprocessing=Preprocessing.from_dict(data.get("preprocessing")),
                dataset=dict(data.get("dataset") or {}),
                metrics=dict(data.get("metrics") or {}),
                training=dict(data.get("training") or {}),
                versions=dict(data.get("versions") or {}),
                files=dict(data.get("files") or {}),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelLoadError(
                f"Model card is malformed: {exc!r}. Expected fields 'inputs' and 'outputs' "
                "as lists of {name, shape, dtype}."
            ) from exc

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``edgeship.json`` into ``directory`` atomically and return its path."""
        return atomic_write_json(Path(directory) / CARD_FILENAME, self.to_dict())


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """Load a card from a file, or from ``edgeship.json`` inside a directory."""
    p = Path(path)
    if p.is_dir():
        p = p / CARD_FILENAME
    if not p.is_file():
        raise ModelLoadError(f"No model card at {p}. Expected an '{CARD_FILENAME}' file.")
    try:
        data = read_json(p)
    except ValueError as exc:
        raise ModelLoadError(f"Model card {p} is not valid JSON: {exc}") from exc
    return ModelCard.from_dict(data)


def find_card(artifact: str | os.PathLike[str]) -> ModelCard | None:
    """Return the card that sits beside ``artifact`` (same directory), or None."""
    p = Path(artifact)
    candidate = (p if p.is_dir() else p.parent) / CARD_FILENAME
    return load_card(candidate) if candidate.is_file() else None
