"""``manifest.json`` (schema ``edgeship.manifest/1``): what convert built and how well it did.

Layout::

    {"schema": "edgeship.manifest/1", "created": ISO time, "source": {"path", "sha256", "kind"},
     "card": "edgeship.json" | null, "options": {...}, "target_runtime": str | null,
     "data": {"calibration": ..., "eval": ...}, "notes": [...],
     "variants": [{"name", "file", "sha256", "size_bytes", "status": "ok"|"failed", "params",
                   "parity": {...}, "runtimes": {"litert 2.3.0": "ok" | error}, "seconds",
                   "errors": [...], "route": route name, "fallbacks_tried": [{"route",
                   "errors"}]}],

``params.float_ops`` lists the operators a fallback route left in float;
``params.integer_inputs`` the integer inputs a full-integer TFLite variant kept as given.
     "versions": {package: version}}

Optional fields: ``data.calibration_range`` / ``data.eval_range`` (``{input: [min, max]}``),
``warnings`` (e.g. calibration data outside the eval data's range), per variant
``calibration_range`` (calibrated variants), ``target`` (the ``--target-runtime`` verdict)
and ``parity.error_limits`` (``{"gate": bool, "exceeded": [...]}``: the error limits of the
variant, a gate without labels, reported beside the accuracy with them). Error strings are
kept whole; only the console cuts them.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeship.errors import ModelLoadError
from edgeship.fileio import atomic_write_json, read_json, sha256_file
from edgeship.versions import installed_versions

MANIFEST_SCHEMA = "edgeship.manifest/1"
MANIFEST_FILENAME = "manifest.json"
STATUS_OK = "ok"
STATUS_FAILED = "failed"


def source_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a model file, or of every file of a SavedModel directory (sorted paths)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    digest = hashlib.sha256()
    for child in sorted(q for q in p.rglob("*") if q.is_file()):
        digest.update(str(child.relative_to(p)).encode())
        digest.update(sha256_file(child).encode())
    return digest.hexdigest()


def new_manifest(source: str | os.PathLike[str], kind: str, **fields: Any) -> dict[str, Any]:
    """Start a manifest for ``source``; ``fields`` are stored as given (options, data...)."""
    return {
        "schema": MANIFEST_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {"path": os.fspath(source), "sha256": source_sha256(source), "kind": kind},
        **fields,
        "variants": [],
        "versions": installed_versions(),
    }


def artifact_fields(path: Path) -> dict[str, Any]:
    """``file``, ``sha256`` and ``size_bytes`` of a written artifact (Nones when missing)."""
    if not path.is_file():
        return {"file": path.name, "sha256": None, "size_bytes": None}
    return {"file": path.name, "sha256": sha256_file(path), "size_bytes": path.stat().st_size}


def write_manifest(out_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically into ``out_dir``."""
    return atomic_write_json(Path(out_dir) / MANIFEST_FILENAME, manifest)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a manifest (a file, or ``manifest.json`` in a directory), checking its schema.

    Raises:
        ModelLoadError: missing file, bad JSON or another schema.
    """
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_FILENAME
    if not p.is_file():
        raise ModelLoadError(
            f"No manifest at {p}. Expected '{MANIFEST_FILENAME}' from 'edgeship convert'."
        )
    try:
        data = read_json(p)
    except ValueError as exc:
        raise ModelLoadError(f"Manifest {p} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ModelLoadError(f"Expected a manifest with schema '{MANIFEST_SCHEMA}'. Got: {got!r}.")
    return data


def variant_entry(manifest: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The record of variant ``name`` in ``manifest``, or None."""
    return next((v for v in manifest.get("variants", []) if v.get("name") == name), None)
