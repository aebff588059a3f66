"""Step stamps for ``--resume``: a step is skipped when its inputs, settings and outputs match.

A stamp (``DIR/.steps/<step>.json``) records the sha256 of each input and output file and a
hash of the step's settings. It is written after the step succeeds, so an interrupted step
never looks done.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgeship.fileio import atomic_write_json, read_json, sha256_file

STAMP_SCHEMA = "edgeship.step/1"


def settings_hash(settings: dict[str, Any]) -> str:
    """Stable sha256 of a JSON-able settings dict."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(paths: list[Path]) -> dict[str, str | None]:
    """``{path: sha256}`` of each file; every file under a directory; None when missing."""
    result: dict[str, str | None] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                result[str(child)] = sha256_file(child)
        else:
            result[str(path)] = sha256_file(path) if path.is_file() else None
    return result


def stamp_path(out: Path, step: str) -> Path:
    return out / ".steps" / f"{step}.json"


def is_fresh(out: Path, step: str, inputs: list[Path], outputs: list[Path], settings: dict) -> bool:
    """True when the step's stamp matches its current inputs, settings and outputs."""
    path = stamp_path(out, step)
    if not path.is_file() or not all(p.exists() for p in outputs):
        return False
    try:
        stamp = read_json(path)
    except ValueError:
        return False
    return (
        stamp.get("schema") == STAMP_SCHEMA
        and stamp.get("settings") == settings_hash(settings)
        and stamp.get("inputs") == fingerprint(inputs)
        and stamp.get("outputs") == fingerprint(outputs)
    )


def write_stamp(
    out: Path, step: str, inputs: list[Path], outputs: list[Path], settings: dict, seconds: float
) -> None:
    """Record that ``step`` finished with these inputs, settings and outputs."""
    atomic_write_json(
        stamp_path(out, step),
        {
            "schema": STAMP_SCHEMA,
            "step": step,
            "settings": settings_hash(settings),
            "inputs": fingerprint(inputs),
            "outputs": fingerprint(outputs),
            "seconds": seconds,
        },
    )
