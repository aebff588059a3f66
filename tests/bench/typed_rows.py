"""Check a JSON value against a TypedDict (key by key, recursively): the bench records'
tests use it on the rows and documents a real sweep writes."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict


def problems(value: Any, tp: Any, path: str = "") -> list[str]:
    """Where ``value`` does not match the type ``tp`` (TypedDicts checked key by key)."""
    if tp is Any or tp is object:
        return []
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: expected a dict for {tp.__name__}, got {type(value).__name__}"]
        hints = get_type_hints(tp)
        out = [f"{path}.{k}: key not declared in {tp.__name__}" for k in value if k not in hints]
        out += [f"{path}.{k}: required key missing" for k in tp.__required_keys__ - set(value)]
        for key, item in value.items():
            if key in hints:
                out += problems(item, hints[key], f"{path}.{key}")
        return out
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        tried = [problems(value, alt, path) for alt in get_args(tp)]
        return [] if any(not t for t in tried) else min(tried, key=len)
    if origin in (list, Sequence):
        if not isinstance(value, (list, tuple) if origin is Sequence else list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        (item,) = get_args(tp)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected a dict, got {type(value).__name__}"]
        key_tp, value_tp = get_args(tp)
        return [
            p
            for k, v in value.items()
            for p in problems(k, key_tp, f"{path}<key>") + problems(v, value_tp, f"{path}[{k}]")
        ]
    if tp is type(None):
        return [] if value is None else [f"{path}: expected None, got {value!r}"]
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f"{path}: expected {tp.__name__}, got {value!r}"]
