"""Type checks for settings read from files, flags or dicts (``int``, ``float | None``, ...)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from edgeship.errors import ConfigError

_EXPECTED = {"bool": "true or false", "int": "an integer", "float": "a finite number"}


def field_types(cls: type) -> dict[str, str]:
    """The annotation of each field of dataclass ``cls``, as text (``"float | None"``)."""
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def typed_value(what: str, annotation: str, value: Any) -> Any:
    """``value`` checked against a simple ``annotation``: bool, int, float or str, optionally
    ``| None``. Whole floats become ints, ints become floats; other annotations pass through.

    Raises:
        ConfigError: naming ``what`` (e.g. "Pipeline setting epochs"), the type expected and
            the value given.
    """
    optional = "None" in annotation
    base = annotation.split("|")[0].strip()
    if value is None and optional:
        return None
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = {
        "bool": isinstance(value, bool),
        "int": number and math.isfinite(value) and float(value).is_integer(),
        "float": number and math.isfinite(value),
        "str": isinstance(value, str),
    }.get(base, True)
    if not ok:
        raise ConfigError(
            f"{what} expects {_EXPECTED.get(base, 'a string')}"
            f"{' or nothing' if optional else ''}. Got: {value!r} ({type(value).__name__})."
        )
    return int(value) if base == "int" else float(value) if base == "float" else value
