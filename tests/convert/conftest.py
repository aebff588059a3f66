"""Convert fixtures: converted outputs shared by every test of the session.

Each fixture converts once; tests only read the manifest and the artifacts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeship.convert.variants import VARIANTS

from .arch_models import BUILDERS, EXTRA_BUILDERS

#: Variants converted per architecture in the default suite: float parity plus quantized
#: variants keeps the run short (each convert pays a TensorFlow start); the digits CNN gets
#: all ten; EDGESHIP_FULL_CONVERT_TESTS=1 builds all ten everywhere. ``multi_io`` covers two
#: inputs/two outputs, BatchNormalization + Dropout + GlobalAveragePooling2D and
#: Resizing/Rescaling in one model.
ARCH_VARIANTS: dict[str, tuple[str, ...]] = {
    "mobilenet_v2": ("tflite-fp32", "onnx-fp32", "onnx-fp16"),
    "multi_io": ("tflite-fp32", "tflite-int8-float-io", "onnx-fp32", "onnx-int8"),
    "lstm": ("tflite-fp32", "tflite-int8", "onnx-fp32", "onnx-dynamic"),
}
#: The zoo's newer architectures, each with the variants that take a new code path: ONNX
#: repair (exact GELU), the int16x8 float route, integer token inputs, fp16 with loops kept
#: float32, sample files keyed by input names, ONNX from the TFLite file (grouped conv).
ROUTE_VARIANTS: dict[str, tuple[str, ...]] = {
    "transformer": ("onnx-fp32", "onnx-fp16", "tflite-int16x8"),
    "text_classifier": ("tflite-int8", "onnx-fp16", "onnx-int8"),
    "bidirectional_gru": ("onnx-fp16",),
    "two_input_named": ("tflite-int8-float-io", "onnx-fp32"),
    "dict_backbone": ("tflite-fp32", "onnx-fp32"),
    "negation": ("tflite-int16x8",),
    "grouped_conv": ("onnx-fp32", "onnx-int8"),
}
if os.environ.get("EDGESHIP_FULL_CONVERT_TESTS") == "1":
    # Every variant on every architecture (a few minutes more).
    ARCH_VARIANTS = {name: tuple(VARIANTS) for name in ARCH_VARIANTS}
    ROUTE_VARIANTS = {name: tuple(VARIANTS) for name in ROUTE_VARIANTS}


def convert_keep(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run convert(); on ParityError return the manifest it wrote (tests inspect it)."""
    from edgeship.convert import convert, read_manifest
    from edgeship.errors import ParityError

    try:
        return convert(*args, **kwargs)
    except ParityError:
        return read_manifest(args[1])


@pytest.fixture(scope="session")
def digits_all(digits_model_dir: Path, reused: Callable[[str, str], tuple[Path, bool]]) -> Path:
    """Every variant of the digits CNN (directory with manifest.json)."""
    out, built = reused("digits_all", "manifest.json")
    if not built:
        convert_keep(digits_model_dir / "model.keras", out, variants="all")
    return out


@pytest.fixture(scope="session")
def arch_dirs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``get(name)`` -> directory with the architecture's model.keras and samples."""
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            build = {**BUILDERS, **EXTRA_BUILDERS}[name]
            cache[name] = build(tmp_path_factory.mktemp(f"arch_{name}"))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def arch_converted(
    arch_dirs: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], dict[str, Any]]:
    """``get(name)`` -> manifest of the architecture converted to ARCH_VARIANTS[name]."""
    cache: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in cache:
            source = arch_dirs(name)
            out = tmp_path_factory.mktemp(f"converted_{name}")
            variants = {**ARCH_VARIANTS, **ROUTE_VARIANTS}[name]
            manifest = convert_keep(source / "model.keras", out, variants=variants)
            manifest["_out"] = str(out)
            cache[name] = manifest
        return cache[name]

    return get
