"""Convert Keras models to TFLite and ONNX variants, each parity-checked and recorded.

Example::

    from edgeship.convert import convert, VARIANTS

    manifest = convert("runs/m/model.keras", "runs/m/artifacts", variants="all")

Importing this package does not import TensorFlow: conversion runs in a child process.
"""

from __future__ import annotations

from edgeship.convert.artifact_info import inspect_artifact
from edgeship.convert.core import DEFAULT_VARIANTS, convert
from edgeship.convert.manifest import MANIFEST_FILENAME, MANIFEST_SCHEMA, read_manifest
from edgeship.convert.variants import VARIANTS, ConvertOptions, Tolerance, VariantSpec

__all__ = [
    "DEFAULT_VARIANTS",
    "MANIFEST_FILENAME",
    "MANIFEST_SCHEMA",
    "VARIANTS",
    "ConvertOptions",
    "Tolerance",
    "VariantSpec",
    "convert",
    "inspect_artifact",
    "read_manifest",
]
