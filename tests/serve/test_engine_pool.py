"""Engines are closed only when no request runs on them; a failed load closes what it built."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from edgeship.errors import ModelLoadError
from edgeship.serve.protocol import HttpError
from edgeship.serve.registry import load_registry


class _Held:
    """A real engine whose calls can be held at a gate (a stuck request), recording closes."""

    def __init__(self, engine: Any, any_entered: threading.Event | None = None) -> None:
        self.engine = engine
        self.any_entered = any_entered or threading.Event()
        self.inputs, self.outputs = engine.inputs, engine.outputs
        self.format, self.backend = engine.format, engine.backend
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.running = False
        self.closed = False
        self.closed_while_running = False

    def predict(self, x: Any, raw: bool = False, check_finite: bool = False) -> Any:
        self.running = True
        self.entered.set()
        self.any_entered.set()
        try:
            self.gate.wait()
            return self.engine.predict(x)
        finally:
            self.running = False

    def close(self) -> None:
        self.closed_while_running |= self.running
        self.closed = True
        self.engine.close()


def test_unload_never_closes_an_engine_a_stuck_request_runs(artifacts, loader):
    held: list[_Held] = []
    entered = threading.Event()  # set by whichever engine the request reaches

    def load(path: str, **options: Any) -> _Held:
        held.append(_Held(loader(path, **options), entered))
        return held[-1]

    registry = load_registry([artifacts.fp32_tflite], workers=2, loader=load)
    model = registry.get("tiny-digits")
    assert model is not None and len(held) == 2
    for eng in held:
        eng.gate.clear()
        eng.entered.clear()  # set by the warm-up call at load
    entered.clear()
    got: list[Any] = []
    stuck = threading.Thread(target=lambda: got.append(model.infer({"x": artifacts.digits[:1]})))
    stuck.start()
    assert entered.wait(30)
    busy = next(e for e in held if e.entered.is_set())
    idle = next(e for e in held if e is not busy)

    model.retire(timeout_s=0.05)  # gives up waiting: the request is stuck
    assert idle.closed and not busy.closed
    with pytest.raises(HttpError, match="is being unloaded"):
        model.infer({"x": artifacts.digits[:1]})

    busy.gate.set()
    stuck.join(10)
    assert got and next(iter(got[0].values())).shape == (1, 10)  # it finished normally
    assert busy.closed and not busy.closed_while_running


def test_a_failed_worker_load_closes_the_engines_already_built(artifacts, loader):
    built: list[_Held] = []

    def load(path: str, **options: Any) -> _Held:
        if len(built) == 2:
            raise ModelLoadError("third engine refused (injected)")
        built.append(_Held(loader(path, **options)))
        return built[-1]

    with pytest.raises(ModelLoadError, match="injected"):
        load_registry([artifacts.fp32_tflite], workers=3, loader=load)
    assert len(built) == 2 and all(e.closed for e in built)
