"""The model card (``edgeship.json``): what later steps need to know about a model.

Schema ``edgeship.card/1``. numpy-free and TensorFlow-free so the runtime can read it.

Preprocessing maps a raw input ``x`` (e.g. pixel values 0..255, or 0..16 for digits) to the
model's input: ``y = (x * scale + offset - mean) / std``, applied per channel when ``mean``
and ``std`` are lists. ``layout`` is ``"NHWC"`` or ``"NCHW"``; ``image_size`` is
``[height, width]``; ``color_mode`` is ``"grayscale"`` or ``"rgb"``.

Input domains. ``scale`` applies to *raw dataset arrays*, whose values span ``raw_range``
(digits: ``[0, 16]`` with ``scale`` 1/16; MNIST: ``[0, 255]`` with 1/255). Image files have
their own domain, their bit depth: 8-bit files span 0..255, 16-bit files 0..65535. An image
file is first mapped linearly from its full bit depth onto ``raw_range`` (black -> the low
end, white -> the high end), then preprocessed like a raw array, so a 0..255 PNG of a digit
reaches a digits model as 0..1, as in training. A card without ``raw_range`` (written before
the field existed) takes ``[0, 1 / scale]``: the training loaders' ``scale`` maps the raw
maximum to 1.

Value ranges. Each input may record ``range``: ``[lo, hi]`` observed on the training data in
the model's input domain (after preprocessing), and ``calibration_range``: the same for the
calibration data a quantized variant was built from (written by ``convert``). The runtime
warns when inputs fall far outside them (:mod:`edgeship.runtime.ranges`). Writing them::

    from edgeship.samples import load_samples, value_ranges

    ranges = value_ranges(load_samples("calibration.npz"))  # {input name, or "x": (lo, hi)}
    card.with_input_ranges(ranges, "calibration").save(out)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeship.errors import ModelLoadError
from edgeship.fileio import atomic_write_json, read_json

Range = tuple[float, float]


def _range(value: Any) -> Range | None:
    """A ``[lo, hi]`` JSON pair as a tuple of floats (None stays None)."""
    if value is None:
        return None
    lo, hi = (float(v) for v in value)
    if not lo <= hi:
        raise ValueError(f"a range must be [lo, hi] with lo <= hi, got {list(value)}")
    return (lo, hi)


CARD_SCHEMA = "edgeship.card/1"
CARD_FILENAME = "edgeship.json"


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape (None for a free dimension) and dtype of one model input or output.

    Attributes:
        range: ``(lo, hi)`` of the training data in the model's input domain, or None.
        calibration_range: ``(lo, hi)`` of the calibration data (model-input domain) that
            quantized variants were built from, or None.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    range: Range | None = None
    calibration_range: Range | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorInfo:
        return cls(
            name=str(data["name"]),
            shape=tuple(None if d is None else int(d) for d in data["shape"]),
            dtype=str(data.get("dtype", "float32")),
            range=_range(data.get("range")),
            calibration_range=_range(data.get("calibration_range")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (ranges as ``[lo, hi]`` lists, left out when unknown)."""
        data: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        for key in ("range", "calibration_range"):
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value)
        return data

    def expected_range(self) -> Range | None:
        """The values this input has seen: the union of ``range`` and ``calibration_range``."""
        known = [r for r in (self.range, self.calibration_range) if r is not None]
        if not known:
            return None
        return (min(r[0] for r in known), max(r[1] for r in known))


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
    raw_range: Range | None = None

    def raw_domain(self) -> Range:
        """The value range of raw dataset arrays: ``raw_range``, or ``[0, 1 / scale]`` for a
        card without it (see the module docstring)."""
        if self.raw_range is not None:
            return self.raw_range
        return (0.0, 1.0 / self.scale if self.scale > 0 else 1.0)

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
            raw_range=_range(data.get("raw_range")),
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
        data["inputs"] = [t.to_dict() for t in self.inputs]
        data["outputs"] = [t.to_dict() for t in self.outputs]
        if self.preprocessing.raw_range is None:
            del data["preprocessing"]["raw_range"]
        else:
            data["preprocessing"]["raw_range"] = list(self.preprocessing.raw_range)
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

    def with_input_ranges(
        self, ranges: Mapping[str, Range] | Sequence[Range | None], kind: str = "calibration"
    ) -> ModelCard:
        """A copy with the value range of each input set.

        Args:
            ranges: ``(lo, hi)`` per input, by input name or in input order (None: unknown);
                ``{"x": ...}`` (a single-input samples file) names a single-input model's input.
            kind: ``"calibration"`` (``calibration_range``, what convert calibrated on) or
                ``"training"`` (``range``).

        Raises:
            ValueError: unknown ``kind`` or input name, or a range with lo > hi.
        """
        key = {"calibration": "calibration_range", "training": "range"}.get(kind)
        if key is None:
            raise ValueError(f"kind must be 'calibration' or 'training'. Got: {kind!r}")
        if isinstance(ranges, Mapping) and list(ranges) == ["x"] and len(self.inputs) == 1:
            ranges = [ranges["x"]]  # a single-input samples file's key (edgeship.samples)
        if isinstance(ranges, Mapping):
            unknown = set(ranges) - {t.name for t in self.inputs}
            if unknown:
                raise ValueError(
                    f"Unknown input name(s) {sorted(unknown)}. Expected: "
                    f"{[t.name for t in self.inputs]}."
                )
            values = [ranges.get(t.name) for t in self.inputs]
        else:
            values = list(ranges) + [None] * (len(self.inputs) - len(ranges))
        inputs = tuple(
            t
            if r is None
            else (
                replace(t, calibration_range=_range(r))
                if key == "calibration_range"
                else replace(t, range=_range(r))
            )
            for t, r in zip(self.inputs, values, strict=False)
        )
        return replace(self, inputs=inputs)

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
