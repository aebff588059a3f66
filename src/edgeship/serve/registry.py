"""The models a server holds: which artifacts, under which names, with how many engines.

A path given to the server is one artifact (``.tflite`` / ``.onnx``) or a directory. A
directory holding a ``manifest.json`` (the output of ``edgeship convert``) serves every variant
whose status is ``ok``, named by its variant; any other directory serves each artifact in it,
named by its file stem. A single artifact is named by its model card, or by its file stem.
"""

from __future__ import annotations

import os
import queue
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeship.card import ModelCard, find_card
from edgeship.errors import ConfigError, ModelLoadError
from edgeship.fileio import read_json

ARTIFACT_SUFFIXES = (".tflite", ".onnx")
MANIFEST_FILENAME = "manifest.json"
MODEL_VERSION = "1"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class SpecLike(Protocol):
    """What the server reads from a ``TensorSpec`` of ``edgeship.runtime``."""

    name: str
    shape: Any
    dtype: str
    quantization: Any


class EngineLike(Protocol):
    """The part of ``edgeship.runtime.Engine`` the server uses."""

    inputs: Any
    outputs: Any
    format: str
    backend: str

    def predict(self, x: Any, raw: bool = False, check_finite: bool = False) -> Any: ...

    def close(self) -> None: ...


Loader = Callable[..., EngineLike]


@dataclass(frozen=True)
class TensorMeta:
    """Name, shape (-1 for a free dimension) and dtype of one served tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass
class ServedModel:
    """One loaded model: its name, file, card, tensor metadata and a pool of engines."""

    name: str
    path: Path
    card: ModelCard | None
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    platform: str
    backend: str
    version: str = MODEL_VERSION
    aliases: dict[str, str] = field(default_factory=dict)
    engines: list[EngineLike] = field(default_factory=list)
    _pool: queue.Queue[EngineLike] = field(default_factory=queue.Queue, repr=False)

    def canonical(self, name: str) -> str:
        """The model's own input name for ``name`` (which may be an alias such as ``image``
        for the TFLite name ``serving_default_image:0``)."""
        return self.aliases.get(name, name)

    def alias_of(self, name: str) -> str:
        """The short name of input ``name`` (itself when it has none)."""
        for alias, real in self.aliases.items():
            if real == name:
                return alias
        return name

    @contextmanager
    def engine(self) -> Iterator[EngineLike]:
        """Borrow an engine for one call; each engine serves one thread at a time."""
        eng = self._pool.get()
        try:
            yield eng
        finally:
            self._pool.put(eng)

    def predict(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``feeds`` (by input name) and return outputs by name."""
        single = len(self.inputs) == 1 and len(feeds) == 1
        with self.engine() as eng:
            # A single-input model takes the bare array: the runtime's fastest path.
            result = eng.predict(next(iter(feeds.values())) if single else feeds)
        if isinstance(result, dict):
            return {str(k): np.asarray(v) for k, v in result.items()}
        return {self.outputs[0].name: np.asarray(result)}

    def close(self) -> None:
        """Close every engine of the pool."""
        for eng in self.engines:
            eng.close()
        self.engines.clear()


def _dims(shape: Any) -> tuple[int, ...]:
    """Shape with -1 for free dimensions; the batch axis is always free (the runtime loops
    over a fixed-batch model)."""
    dims = tuple(-1 if d is None or int(d) < 0 else int(d) for d in shape)
    return (-1, *dims[1:]) if dims else dims


def _short_name(name: str) -> str:
    base = re.sub(r":\d+$", "", name)
    return base.removeprefix("serving_default_") or name


def input_aliases(inputs: Sequence[TensorMeta]) -> dict[str, str]:
    """Short names for inputs, e.g. ``image`` for ``serving_default_image:0`` (the key a
    TF Serving client uses); only unambiguous ones."""
    real = {m.name for m in inputs}
    shorts = [_short_name(m.name) for m in inputs]
    return {
        short: m.name
        for short, m in zip(shorts, inputs, strict=True)
        if short != m.name and short not in real and shorts.count(short) == 1
    }


def _example_feeds(specs: Sequence[TensorMeta]) -> dict[str, np.ndarray]:
    return {
        s.name: np.zeros(tuple(1 if d < 0 else d for d in s.shape), dtype=np.dtype(s.dtype))
        for s in specs
    }


def _load_model(
    name: str, path: Path, loader: Loader, workers: int, options: dict[str, Any]
) -> ServedModel:
    engines = [loader(str(path), **options) for _ in range(workers)]
    first = engines[0]
    inputs = tuple(TensorMeta(s.name, _dims(s.shape), str(s.dtype)) for s in first.inputs)
    model = ServedModel(
        name=name,
        path=path,
        card=find_card(path),
        inputs=inputs,
        outputs=tuple(TensorMeta(s.name, _dims(s.shape), str(s.dtype)) for s in first.outputs),
        platform=str(first.format),
        backend=str(first.backend),
        aliases=input_aliases(inputs),
        engines=engines,
    )
    for eng in engines:
        model._pool.put(eng)
    # One warm-up call tells the dtype the server returns for each output (quantized outputs
    # come back dequantized to float32) and fails early on a model that cannot run.
    try:
        warm = model.predict(_example_feeds(inputs))
    except Exception as exc:
        model.close()
        raise ModelLoadError(
            f"Model '{name}' ({path}) loaded but failed its first prediction on zeros: {exc}"
        ) from exc
    model.outputs = tuple(
        TensorMeta(m.name, m.shape, str(warm[m.name].dtype) if m.name in warm else m.dtype)
        for m in model.outputs
    )
    return model


def _manifest_entries(directory: Path) -> list[tuple[str, Path]]:
    try:
        manifest = read_json(directory / MANIFEST_FILENAME)
        variants = manifest["variants"]
        entries = [
            (str(v["name"]), directory / str(v["file"]))
            for v in variants
            if isinstance(v, dict) and v.get("status") == "ok"
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"{directory / MANIFEST_FILENAME} is not a readable edgeship manifest: {exc!r}. "
            "Expected the 'variants' list written by 'edgeship convert'."
        ) from exc
    if not entries:
        raise ModelLoadError(
            f"{directory / MANIFEST_FILENAME} lists no variant with status 'ok'. "
            "Re-run 'edgeship convert' or serve one artifact file."
        )
    return entries


def discover(path: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Return ``(model name, artifact path)`` pairs for one artifact or directory.

    Raises:
        ModelLoadError: the path does not exist or holds no artifact.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() not in ARTIFACT_SUFFIXES:
            raise ModelLoadError(
                f"Cannot serve {p}: expected a .tflite or .onnx artifact or a directory. "
                f"Got a '{p.suffix}' file."
            )
        card = find_card(p)
        return [(card.name if card else p.stem, p)]
    if p.is_dir():
        if (p / MANIFEST_FILENAME).is_file():
            return _manifest_entries(p)
        found = sorted(f for f in p.iterdir() if f.suffix.lower() in ARTIFACT_SUFFIXES)
        if not found:
            raise ModelLoadError(
                f"No .tflite or .onnx artifact in {p}. Expected a convert output directory "
                "(with manifest.json) or a directory of artifacts."
            )
        return [(f.stem, f) for f in found]
    raise ModelLoadError(f"Cannot serve {p}: no such file or directory.")


class ModelRegistry:
    """Models by name. Names are the only way a request reaches a model."""

    def __init__(self, models: Sequence[ServedModel]) -> None:
        self._models = {m.name: m for m in models}

    def get(self, name: str) -> ServedModel | None:
        """Return the model called ``name``, or None."""
        return self._models.get(name)

    @property
    def names(self) -> list[str]:
        """Names of the loaded models, sorted."""
        return sorted(self._models)

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._models[n] for n in self.names)

    def __len__(self) -> int:
        return len(self._models)

    def close(self) -> None:
        """Close every model's engines."""
        for model in self._models.values():
            model.close()


def load_registry(
    paths: Sequence[str | os.PathLike[str]],
    *,
    backend: str = "auto",
    threads: int | None = None,
    workers: int = 1,
    loader: Loader | None = None,
) -> ModelRegistry:
    """Load every artifact under ``paths`` into a :class:`ModelRegistry`.

    Args:
        paths: artifact files or directories (see the module docstring).
        backend: runtime backend name passed to ``edgeship.runtime.load``.
        threads: interpreter threads per engine.
        workers: engines per model; that many requests run a model at the same time.
        loader: function with the signature of ``edgeship.runtime.load`` (default: that one).

    Raises:
        ConfigError: bad ``workers``, a model name used twice or not URL-safe.
        ModelLoadError: a path holds no loadable artifact.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ConfigError(f"workers must be an integer from 1 to 64. Got: {workers!r}")
    if not paths:
        raise ConfigError("Expected at least one artifact or directory to serve. Got none.")
    if loader is None:
        from edgeship.runtime import load as runtime_load

        loader = runtime_load
    options: dict[str, Any] = {"backend": backend}
    if threads is not None:
        options["threads"] = threads
    entries: list[tuple[str, Path]] = []
    for p in paths:
        entries.extend(discover(p))
    seen: dict[str, Path] = {}
    for name, artifact in entries:
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"Model name {name!r} (from {artifact}) is not URL-safe. Expected letters, "
                "digits, '.', '_' or '-'; rename the file or the card's 'name'."
            )
        if name in seen:
            raise ConfigError(
                f"Two artifacts would be served as '{name}': {seen[name]} and {artifact}. "
                "Serve them from separate directories or rename one."
            )
        seen[name] = artifact
    models: list[ServedModel] = []
    try:
        for name, artifact in entries:
            models.append(_load_model(name, artifact, loader, workers, options))
    except BaseException:
        for m in models:
            m.close()
        raise
    return ModelRegistry(models)
