"""What the converter child does on each request (runs only inside the worker process)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.card import ModelCard
from edgeship.convert.source import SourceModel, load_source
from edgeship.convert.variants import VARIANTS, ArtifactFormat, ConversionSpec, ConvertOptions
from edgeship.errors import ConfigError


class WorkerState:
    """The model, loaded once per child on first use."""

    def __init__(
        self,
        model_path: str,
        card: dict[str, Any] | None,
        workdir: Path,
        batch: int | None = None,
        input_shapes: tuple[str, ...] = (),
        unsafe: bool = False,
    ) -> None:
        self.model_path = model_path
        self.card = ModelCard.from_dict(card) if card else None
        self.workdir = workdir
        self.batch = batch
        self.input_shapes = input_shapes
        self.unsafe = unsafe
        self._model: SourceModel | None = None

    @property
    def model(self) -> SourceModel:
        if self._model is None:
            self._model = load_source(
                self.model_path, self.card, self.workdir, self.batch, self.input_shapes, self.unsafe
            )
        return self._model


def dispatch(state: WorkerState, command: str, kwargs: dict[str, Any]) -> Any:
    """Run one request; raises ConfigError for an unknown command."""
    handler = _HANDLERS.get(command)
    if handler is None:
        raise ConfigError(
            f"Unknown worker command {command!r}. Expected one of {sorted(_HANDLERS)}."
        )
    return handler(state, **kwargs)


def _info(state: WorkerState) -> dict[str, Any]:
    model = state.model
    return {
        "kind": model.kind,
        "inputs": [asdict(t) | {"shape": list(t.shape)} for t in model.inputs],
        "outputs": list(model.output_names),
        "recurrent": model.recurrent,
    }


def _prepare(state: WorkerState) -> dict[str, float]:
    """Export the SavedModel (once per convert; the model is loaded by ``info``)."""
    import time

    started = time.perf_counter()
    state.model.saved_model_dir()
    return {"export_seconds": time.perf_counter() - started}


def _predict(state: WorkerState, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return state.model.predict(inputs)


def _convert(
    state: WorkerState,
    variant: str,
    path: str,
    options: dict[str, Any],
    calibration: dict[str, np.ndarray] | None,
    route: str = "",
) -> dict[str, Any]:
    spec = ConversionSpec(VARIANTS[variant], ConvertOptions.from_dict(options), calibration, route)
    if spec.variant.format is ArtifactFormat.TFLITE:
        from edgeship.convert.tflite import to_tflite

        return to_tflite(state.model, path, spec)
    from edgeship.convert.onnx import to_onnx

    return to_onnx(state.model, path, spec)


def _check(
    state: WorkerState,
    path: str,
    backend: str,
    inputs: dict[str, np.ndarray],
    agreement: dict[str, Any] | None = None,
) -> str:
    """Load and run ``path`` on one backend (and compare it with the source model when
    ``agreement`` is given); "ok" or the error text."""
    from edgeship.convert.compat import run_on_backend

    return run_on_backend(path, backend, inputs, agreement)


_HANDLERS: dict[str, Callable[..., Any]] = {
    "info": _info,
    "prepare": _prepare,
    "predict": _predict,
    "convert": _convert,
    "check": _check,
}
