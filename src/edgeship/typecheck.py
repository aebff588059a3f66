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
    optional = annotation.replace(" ", "").endswith("|None")
    base = annotation.rsplit("|", 1)[0].strip() if optional else annotation.strip()
    if value is None and optional:
        return None
    if base.startswith("tuple[") and base.endswith(", ...]"):
        if not isinstance(value, (tuple, list)):
            raise ConfigError(f"{what} expects a list. Got: {value!r} ({type(value).__name__}).")
        inner = base[len("tuple[") : -len(", ...]")]
        return tuple(typed_value(f"{what} (each item)", inner, v) for v in value)
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


def check_fields(obj: Any, what: str) -> None:
    """Check (and normalise) every simple-typed field of dataclass instance ``obj`` in place;
    works on frozen dataclasses. ``what`` names the owner in errors, e.g. "Convert option"."""
    for name, annotation in field_types(type(obj)).items():
        value = typed_value(f"{what} {name}", annotation, getattr(obj, name))
        object.__setattr__(obj, name, value)
