"""A Dask worker plugin that flips one byte of every artifact that reaches one device.

It forces an artifact whose sha256 changes in transit: the bytes are changed in the
worker's memory after they arrived and before the task that uses them runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class FlipByte(WorkerPlugin):
    """Corrupt every :class:`edgeship.fleet.Shipment` stored on workers of ``label``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.worker: Any = None

    def setup(self, worker: Any) -> None:
        resources = worker.state.total_resources
        self.worker = worker if f"edgeship-device:{self.label}" in resources else None

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if self.worker is None or finish != "memory":
            return
        value = self.worker.data.get(key)
        if type(value).__name__ == "Shipment" and value.name.endswith((".tflite", ".onnx")):
            flipped = value.data[:-1] + bytes([value.data[-1] ^ 0xFF])
            self.worker.data[key] = dataclasses.replace(value, data=flipped)
