"""Versions of installed packages, read from metadata without importing them."""

from __future__ import annotations

import platform
from importlib import metadata

TRACKED_PACKAGES = (
    "edgeship",
    "numpy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "onnxconverter-common",
    "ai-edge-litert",
    "tflite-runtime",
    "tflite-micro",
    "scikit-learn",
)


def package_version(name: str) -> str | None:
    """Return the installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Return ``{package: version}`` for the installed packages among ``names`` plus Python."""
    found = {name: v for name in names if (v := package_version(name)) is not None}
    found["python"] = platform.python_version()
    return found
