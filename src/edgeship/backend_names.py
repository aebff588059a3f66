"""The backends edgeship runs artifacts on, by name, in the order ``backend="auto"`` tries them.

Standard library only, so the command line, bench and the runtime share one list without
importing a backend (or numpy).
"""

from __future__ import annotations

#: Preference order of ``backend="auto"`` per artifact format.
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "tflite": ("litert", "tflite-runtime", "tf-lite"),
    "onnx": ("onnxruntime",),
}

#: Every backend name, in that order.
BACKEND_NAMES: tuple[str, ...] = tuple(name for names in AUTO_ORDER.values() for name in names)
