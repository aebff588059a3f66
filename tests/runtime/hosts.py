"""What this host has installed, so tests of "X is missing" skip (saying why) where X exists.

A host with a GPU build of a backend (onnxruntime-gpu, the TFLite GPU delegate, an Edge TPU)
or without an optional backend (tflite-runtime has no wheel for Python 3.12) skips the tests
that assume otherwise, instead of failing them.
"""

from __future__ import annotations

import ctypes
import importlib.util
import platform

import pytest

from edgeship.runtime.backends.tflite import DELEGATE_LIBRARIES


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (found without importing it)."""
    return importlib.util.find_spec(name) is not None


def delegate_loads(name: str) -> bool:
    """True when the named TFLite delegate's library loads on this host."""
    lib = DELEGATE_LIBRARIES[name].get(platform.system())
    if lib is None:
        return False
    try:
        ctypes.CDLL(lib)
    except OSError:
        return False
    return True


def onnx_provider_available(provider: str) -> bool:
    """True when this onnxruntime build offers ``provider`` (e.g. onnxruntime-gpu's CUDA)."""
    import onnxruntime

    return provider in onnxruntime.get_available_providers()


needs_tflite_runtime = pytest.mark.skipif(
    not has_module("tflite_runtime"),
    reason="tflite-runtime is not installed (no wheel for this Python: it stops at 3.11)",
)
