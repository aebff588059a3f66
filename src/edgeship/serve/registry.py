"""The models a server holds: which artifacts, under which names, with how many engines.

A path given to the server is one artifact (``.tflite`` / ``.onnx``) or a directory. A
directory holding a ``manifest.json`` (the output of ``edgeship convert``) serves every variant
whose status is ``ok``, named by its variant; any other directory serves each artifact in it,
named by its file stem. A single artifact is named by its model card, or by its file stem;
several artifact files of one card are named ``<card name>-<variant>``, and ``names`` set any
name (:mod:`edgeship.serve.naming`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeship.card import ModelCard, find_card
from edgeship.discovery import (
    ARTIFACT_SUFFIXES,
    MANIFEST_FILENAME,
    DiscoveryPolicy,
    discover,
)
from edgeship.errors import ConfigError, ModelLoadError
from edgeship.serve.batching import RETRY_AFTER, BatchingConfig, DynamicBatcher
from edgeship.serve.naming import assign_names
from edgeship.serve.pool import EnginePool, build_engines
from edgeship.serve.protocol import HttpError
from edgeship.serve.stats import ModelStats
from edgeship.serve.tensor_meta import TensorMeta, tensor_metas

MODEL_VERSION = "1"
__all__ = ["ARTIFACT_SUFFIXES", "MANIFEST_FILENAME", "TensorMeta", "discover"]  # re-exported


class EngineLike(Protocol):
    """The part of ``edgeship.runtime.Engine`` the server uses."""

    inputs: Any
    outputs: Any
    format: str
    backend: str

    def predict(self, x: Any, raw: bool = False, check_finite: bool = False) -> Any: ...

    def close(self) -> None: ...


Loader = Callable[..., EngineLike]


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
    device: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    engines: list[EngineLike] = field(default_factory=list)
    batching: BatchingConfig | None = None
    stats: ModelStats = field(default_factory=ModelStats, repr=False)
    batcher: DynamicBatcher | None = field(default=None, repr=False)
    _pool: EnginePool = field(init=False, repr=False)
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _inflight: int = field(default=0, repr=False)
    _retired: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._pool = EnginePool(self.name)
        for eng in self.engines:
            self._pool.add(eng)

    def canonical(self, name: str) -> str:
        """The model's own input name for ``name`` (which may be an alias such as ``image``
        for the TFLite name ``serving_default_image:0``)."""
        return self.aliases.get(name, name)

    def alias_of(self, name: str) -> str:
        """The shortest name of input ``name`` (itself when no alias is shorter)."""
        names = [alias for alias, real in self.aliases.items() if real == name]
        return min([name, *names], key=len)

    @contextmanager
    def engine(self) -> Iterator[EngineLike]:
        """Borrow an engine for one call; each engine serves one thread at a time.

        Raises:
            HttpError: 503 once the model is closed.
        """
        with self._pool.borrow() as eng:
            yield eng

    def _call(self, eng: EngineLike, feeds: dict[str, np.ndarray]) -> Any:
        # A single-input model takes the bare array: the runtime's fastest path.
        single = len(self.inputs) == 1 and len(feeds) == 1
        return eng.predict(next(iter(feeds.values())) if single else feeds)

    def _outputs(self, result: Any) -> dict[str, np.ndarray]:
        if isinstance(result, dict):
            return {str(k): np.asarray(v) for k, v in result.items()}
        return {self.outputs[0].name: np.asarray(result)}

    def predict(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``feeds`` (by input name) and return outputs by name."""
        with self.engine() as eng:
            result = self._call(eng, feeds)
        return self._outputs(result)

    @property
    def in_flight(self) -> int:
        """Requests inside :meth:`infer` now (queued, waiting for an engine or running)."""
        return self._inflight

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Serve one checked request: through the dynamic batcher when the model has one,
        else straight on a free engine; either way counted in :attr:`stats`.

        Raises:
            HttpError: 503 once the model is being unloaded, or from the batcher.
        """
        with self._idle:  # count the request in flight; refuse it once unloading
            if self._retired:
                raise HttpError(503, f"Model '{self.name}' is being unloaded.", RETRY_AFTER)
            self._inflight += 1
        try:
            if self.batcher is not None:
                return self.batcher.submit(feeds)
            start = time.perf_counter_ns()
            eng = self._pool.acquire()
            try:
                got = time.perf_counter_ns()
                result = self._call(eng, feeds)
            finally:
                self._pool.release(eng)
            ran = time.perf_counter_ns()
            outputs = self._outputs(result)
            rows = int(next(iter(feeds.values())).shape[0]) if feeds else 0
            self.stats.record_single(rows, got - start, ran - got, time.perf_counter_ns() - ran)
            return outputs
        finally:
            with self._idle:
                self._inflight -= 1
                if not self._inflight and self._retired:  # retire() waits for this
                    self._idle.notify_all()

    def close(self) -> None:
        """Stop the batcher and close the engines: idle ones now, one still borrowed by a
        request when that request gives it back (never under a running call)."""
        if self.batcher is not None:
            self.batcher.close()
        self._pool.close()
        self.engines.clear()

    def retire(self, timeout_s: float = 30.0) -> None:
        """Close the model once the requests already on it have finished (for unload); new
        ones get a 503. After ``timeout_s`` the model is closed anyway, but an engine that a
        stuck request still runs is closed only when that request returns it."""
        with self._idle:
            self._retired = True
            self._idle.wait_for(lambda: not self._inflight, timeout=timeout_s)
        self.close()


def _short_name(name: str) -> str:
    base = re.sub(r":\d+$", "", name)
    return base.removeprefix("serving_default_") or name


def input_aliases(inputs: Sequence[TensorMeta]) -> dict[str, str]:
    """Other names for inputs: short ones, e.g. ``image`` for ``serving_default_image:0`` (the
    key a TF Serving client uses), and the artifact's own names (with their short forms) where
    the served name is the model's; only unambiguous ones."""
    real = {m.name for m in inputs}
    found: dict[str, list[str]] = {}
    for m in inputs:
        for other in {_short_name(m.name), m.artifact_name, _short_name(m.artifact_name or "")}:
            if other and other != m.name and other not in real:
                found.setdefault(other, []).append(m.name)
    return {other: names[0] for other, names in found.items() if len(set(names)) == 1}


def _example_feeds(specs: Sequence[TensorMeta]) -> dict[str, np.ndarray]:
    return {
        s.name: np.zeros(tuple(1 if d < 0 else d for d in s.shape), dtype=np.dtype(s.dtype))
        for s in specs
    }


def _load_model(
    name: str,
    path: Path,
    loader: Loader,
    workers: int,
    options: dict[str, Any],
    batching: BatchingConfig | None = None,
) -> ServedModel:
    engines = build_engines(lambda: loader(str(path), **options), workers)
    first = engines[0]
    inputs, outputs = tensor_metas(first)
    model = ServedModel(
        name=name,
        path=path,
        card=find_card(path),
        inputs=inputs,
        outputs=outputs,
        platform=str(first.format),
        backend=str(first.backend),
        device=getattr(first, "device", None),
        aliases=input_aliases(inputs),
        engines=engines,
    )
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
        replace(m, dtype=str(warm[m.name].dtype)) if m.name in warm else m for m in model.outputs
    )
    if batching is not None:
        model.batching = batching
        model.batcher = DynamicBatcher(name, batching, model.predict, model.stats, workers)
    return model


@dataclass(frozen=True)
class LoadOptions:
    """How the registry's models were loaded, to load more the same way (model control).

    Attributes:
        loader: function with the signature of ``edgeship.runtime.load``.
        workers: engines per model.
        options: keyword arguments for ``loader`` (backend, threads, device).
        batching: dynamic batching by model name; ``"*"`` applies to every other model.
        discovery: which artifacts of a directory count (manifest-less, failed variants).
    """

    loader: Loader
    workers: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)
    batching: Mapping[str, BatchingConfig] = field(default_factory=dict)
    discovery: DiscoveryPolicy = field(default_factory=DiscoveryPolicy)

    def load(self, name: str, path: Path) -> ServedModel:
        """Load, warm up and (when configured) start batching one model."""
        config = self.batching.get(name, self.batching.get("*"))
        return _load_model(name, path, self.loader, self.workers, dict(self.options), config)


class ModelRegistry:
    """Models by name. Names are the only way a request reaches a model."""

    def __init__(
        self, models: Sequence[ServedModel], load_options: LoadOptions | None = None
    ) -> None:
        self._models = {m.name: m for m in models}
        self._lock = threading.Lock()
        self.load_options = load_options

    def get(self, name: str) -> ServedModel | None:
        """Return the model called ``name``, or None."""
        return self._models.get(name)

    @property
    def names(self) -> list[str]:
        """Names of the loaded models, sorted."""
        return sorted(self._models)

    def __iter__(self) -> Iterator[ServedModel]:
        models = dict(self._models)
        return iter(models[n] for n in sorted(models))

    def __len__(self) -> int:
        return len(self._models)

    def put(self, model: ServedModel) -> ServedModel | None:
        """Serve ``model`` under its name; return the model it replaces, if any."""
        with self._lock:
            old = self._models.get(model.name)
            self._models = {**self._models, model.name: model}
        return old

    def pop(self, name: str) -> ServedModel | None:
        """Stop serving the model called ``name`` and return it (None if unknown)."""
        with self._lock:
            models = dict(self._models)
            model = models.pop(name, None)
            self._models = models
        return model

    def close(self) -> None:
        """Close every model's engines."""
        for model in list(self._models.values()):
            model.close()


def load_registry(
    paths: Sequence[str | os.PathLike[str]],
    *,
    backend: str = "auto",
    threads: int | None = None,
    device: str | None = None,
    workers: int = 1,
    loader: Loader | None = None,
    batching: Mapping[str, BatchingConfig] | None = None,
    names: Mapping[str, str | os.PathLike[str]] | None = None,
    discovery: DiscoveryPolicy | None = None,
) -> ModelRegistry:
    """Load every artifact under ``paths`` into a :class:`ModelRegistry`.

    Args:
        paths: artifact files or directories (see the module docstring).
        backend: runtime backend name passed to ``edgeship.runtime.load``.
        threads: interpreter threads per engine.
        device: device or accelerator of the openvino / litert-compiled backend; None: the
            backend's default.
        workers: engines per model; that many requests run a model at the same time.
        loader: function with the signature of ``edgeship.runtime.load`` (default: that one).
        batching: dynamic batching by model name (``"*"``: every model); off by default.
        names: ``{name: artifact file}``: serve (or rename) these files under these names
            (see :mod:`edgeship.serve.naming`, which also gives the default names).
        discovery: serve directories without a manifest, or failed variants (default: no).

    Raises:
        ConfigError: bad ``workers``, a model name used twice or not URL-safe.
        ModelLoadError: a path holds no loadable artifact.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ConfigError(f"workers must be an integer from 1 to 64. Got: {workers!r}")
    if not paths and not names:
        raise ConfigError("Expected at least one artifact or directory to serve. Got none.")
    if loader is None:
        from edgeship.runtime import load as runtime_load

        loader = runtime_load
    options: dict[str, Any] = {"backend": backend}
    if threads is not None:
        options["threads"] = threads
    if device is not None:
        options["device"] = device
    entries = assign_names(paths, names, discovery)
    seen = dict(entries)
    unknown = sorted(set(batching or {}) - set(seen) - {"*"})
    if unknown:
        raise ConfigError(
            f"Dynamic batching is set for {unknown}, which this server does not load. "
            f"Models: {sorted(seen)}."
        )
    load_options = LoadOptions(
        loader, workers, options, dict(batching or {}), discovery or DiscoveryPolicy()
    )
    models: list[ServedModel] = []
    try:
        for name, artifact in entries:
            models.append(load_options.load(name, artifact))
    except BaseException:
        for m in models:
            m.close()
        raise
    return ModelRegistry(models, load_options)
