"""Runtime settings as every stage names and spells them, with the standard library only.

* the backends, in the order ``backend="auto"`` tries them per artifact format;
* one syntax for the command line (``predict``, ``bench``, ``serve``, ``pipeline``):
  ``--provider NAME[:KEY=VALUE;...]``, repeatable, several names also comma-separated
  (``--provider cuda,cpu``), in order of preference; ``--delegate-option KEY=VALUE``,
  repeatable.

Nothing here imports a backend or numpy, so the command line can use it before it loads one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from edgeship.errors import ConfigError

#: Preference order of ``backend="auto"`` per artifact format.
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "tflite": ("litert", "tflite-runtime", "tf-lite", "litert-compiled", "openvino", "tflm"),
    "onnx": ("onnxruntime", "openvino"),
}

#: Every backend name, in that order (each once).
BACKEND_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(name for names in AUTO_ORDER.values() for name in names)
)


def parse_provider(text: str) -> Any:
    """``"CUDAExecutionProvider:device_id=0;arena_extend_strategy=kSameAsRequested"`` ->
    ``("CUDAExecutionProvider", {"device_id": "0", ...})``; a bare name stays a string.

    Raises:
        ConfigError: an option that is not ``KEY=VALUE``.
    """
    name, _, opts = text.partition(":")
    if not opts:
        return name
    options = {}
    for item in filter(None, opts.split(";")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--provider options are KEY=VALUE separated by ';'. Got: {text!r}")
        options[key] = value
    return (name, options)


def parse_providers(values: Iterable[str] | str | None) -> tuple[Any, ...] | None:
    """Every ``--provider`` value (each may hold several, comma-separated), in order; None
    when none was given (the backend's default)."""
    if isinstance(values, str):
        values = [values]
    found = tuple(
        parse_provider(part.strip())
        for value in values or ()
        for part in value.split(",")
        if part.strip()
    )
    return found or None


def parse_key_values(
    items: Iterable[str] | None, option: str = "--delegate-option"
) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v", ...}``.

    Raises:
        ConfigError: an item without ``=``, naming ``option``.
    """
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{option} expects KEY=VALUE. Got: {item!r}")
        out[key] = value
    return out
