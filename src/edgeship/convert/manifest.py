"""Writing a manifest during convert: the source's digest, a new document, artifact fields.

The manifest itself (schema, records, read and write) is defined in :mod:`edgeship.manifest`;
its names are re-exported here for callers of ``edgeship.convert.manifest``.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeship.fileio import sha256_file
from edgeship.manifest import (
    MANIFEST_FILENAME,
    MANIFEST_SCHEMA,
    STATUS_FAILED,
    STATUS_OK,
    Manifest,
    VariantRecord,
    read_manifest,
    write_manifest,
)
from edgeship.versions import installed_versions

__all__ = [
    "MANIFEST_FILENAME",
    "MANIFEST_SCHEMA",
    "STATUS_FAILED",
    "STATUS_OK",
    "Manifest",
    "VariantRecord",
    "artifact_fields",
    "new_manifest",
    "read_manifest",
    "source_sha256",
    "write_manifest",
]


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
