"""The route ladder: how each variant may be built, in the order the routes are tried.

A variant has a primary route and ordered fallbacks. ``convert`` tries them in order; a route
fails when the converter raises (or its process dies), the graph is invalid, no runtime can
prepare the artifact, or parity fails, and the next route is tried. The manifest records,
per variant, ``route`` (the one that produced the artifact), ``fallbacks_tried`` (each with
its error) and ``float_ops`` (operators a fallback left in float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edgeship.errors import ConfigError


@dataclass(frozen=True)
class Route:
    """One way to build a variant.

    Attributes:
        name: recorded in the manifest (``route``).
        description: what the route does differently, in one line.
        after_conversion_error: try this fallback only when the routes before it failed to
            convert (it would build the same artifact as they did otherwise).
        after_runtime_error: try this fallback only when the route before it converted but
            no interpreter could prepare or run the file.
    """

    name: str
    description: str
    after_conversion_error: bool = False
    after_runtime_error: bool = False

    def applies(self, previous: dict[str, Any]) -> bool:
        """Whether to try this route after ``previous`` (the last route's record) failed."""
        converted = previous.get("sha256") is not None
        if self.after_conversion_error and converted:
            return False
        return not (self.after_runtime_error and (not converted or previous.get("parity")))


ROUTE_DEFAULT = "default"
ROUTE_INT16X8 = "int16x8"
ROUTE_INT16X8_FLOAT_FALLBACK = "int16x8+float-ops"
ROUTE_INT16X8_KEEP_FLOAT = "int16x8+keep-float"
ROUTE_FP16 = "fp16"
ROUTE_FP16_LOOPS_FLOAT = "fp16+loops-float32"
ROUTE_FROM_TFLITE = "from-tflite"

_DEFAULT = (Route(ROUTE_DEFAULT, "the variant's converter settings"),)
#: Last ONNX rung: tf2onnx reads the TFLite float32 file when the graph it converts keeps
#: function calls ONNX cannot express (see :mod:`edgeship.convert.onnx_tflite`).
_FROM_TFLITE = Route(
    ROUTE_FROM_TFLITE,
    "the float ONNX graph read by tf2onnx from the TFLite float32 file",
    after_conversion_error=True,
)

#: variant name -> routes, primary first. Variants not listed have the default route only.
LADDERS: dict[str, tuple[Route, ...]] = {
    "tflite-int16x8": (
        Route(ROUTE_INT16X8, "every op with a 16x8 kernel"),
        Route(
            ROUTE_INT16X8_FLOAT_FALLBACK,
            "16x8 where a kernel exists, builtin float ops for the others",
            after_conversion_error=True,
        ),
        Route(
            ROUTE_INT16X8_KEEP_FLOAT,
            "as int16x8+float-ops, then each operator the interpreter cannot prepare or run "
            "computes in float between DEQUANTIZE and QUANTIZE",
            after_runtime_error=True,
        ),
    ),
    "onnx-fp16": (
        Route(ROUTE_FP16, "float16 everywhere but integer/boolean paths"),
        Route(ROUTE_FP16_LOOPS_FLOAT, "float16 outside Loop/Scan; loop bodies stay float32"),
        _FROM_TFLITE,
    ),
    "onnx-fp32": (*_DEFAULT, _FROM_TFLITE),
    "onnx-dynamic": (*_DEFAULT, _FROM_TFLITE),
    "onnx-int8": (*_DEFAULT, _FROM_TFLITE),
}


def ladder(variant: str) -> tuple[Route, ...]:
    """The routes of ``variant``, primary first."""
    return LADDERS.get(variant, _DEFAULT)


def check_route(variant: str, route: str) -> str:
    """Return ``route`` when it belongs to ``variant`` ("" means the primary route).

    Raises:
        ConfigError: an unknown route for this variant.
    """
    names = [r.name for r in ladder(variant)]
    if not route:
        return names[0]
    if route not in names:
        raise ConfigError(f"Variant {variant} has no route {route!r}. Expected one of {names}.")
    return route


_PREPARE = re.compile(
    r"\(([A-Z][A-Z0-9_]+)\) failed to (?:prepare|invoke)|builtin opcode '([A-Z][A-Z0-9_]+)'"
)


def explain_runtime_failures(runtimes: dict[str, str], variant: str, route: str) -> list[str]:
    """Reasoned errors for interpreters that could not prepare the artifact.

    Args:
        runtimes: ``{"litert 2.3.0": "ok" | error text}`` from the runtime check.
        variant: the variant name.
        route: the route that built it.

    Returns:
        One message per failing interpreter naming the operator, the runtime and what to do.
    """
    out: list[str] = []
    for runtime, verdict in runtimes.items():
        if verdict == "ok":
            continue
        match = _PREPARE.search(verdict)
        op = next((g for g in match.groups() if g), None) if match else None
        what = f"cannot prepare or run operator {op}" if op else "cannot run it"
        fix = (
            "build tflite-int8-float-io or tflite-dynamic instead, or keep the layers that "
            f"make {op or 'the failing operator'} in float (--keep-float)"
            if variant == "tflite-int16x8"
            else "build another variant, or replace the layer that produces it"
        )
        out.append(f"{runtime} {what} in {variant} (route {route}): {verdict}. To ship it, {fix}.")
    return out
