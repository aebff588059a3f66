"""Which artifacts a path holds, and the names they are served under.

A path given to the server is one artifact (``.tflite`` / ``.onnx``) or a directory. A
directory holding a ``manifest.json`` (the output of ``edgeship convert``) serves every variant
whose status is ``ok``, named by its variant; any other directory serves each artifact in it,
named by its file stem. A single artifact is named by its model card, or by its file stem.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeship.card import find_card
from edgeship.errors import ModelLoadError
from edgeship.manifest import ARTIFACT_SUFFIXES, MANIFEST_FILENAME, Manifest

__all__ = ["ARTIFACT_SUFFIXES", "MANIFEST_FILENAME", "discover"]


def _manifest_entries(directory: Path) -> list[tuple[str, Path]]:
    try:
        manifest = Manifest.read(directory / MANIFEST_FILENAME, require_schema=False)
        entries = [(v.name, manifest.artifact_path(v)) for v in manifest.ok_variants()]
    except (OSError, ModelLoadError) as exc:
        raise ModelLoadError(
            f"{directory / MANIFEST_FILENAME} is not a readable edgeship manifest: {exc!r}. "
            "Expected the 'variants' list written by 'edgeship convert'."
        ) from exc
    if not entries:
        raise ModelLoadError(
            f"{directory / MANIFEST_FILENAME} lists no variant with status 'ok'. "
            "Re-run 'edgeship convert' or serve one artifact file."
        )
    return entries


def discover(path: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Return ``(model name, artifact path)`` pairs for one artifact or directory.

    Raises:
        ModelLoadError: the path does not exist or holds no artifact.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() not in ARTIFACT_SUFFIXES:
            raise ModelLoadError(
                f"Cannot serve {p}: expected a .tflite or .onnx artifact or a directory. "
                f"Got a '{p.suffix}' file."
            )
        card = find_card(p)
        return [(card.name if card else p.stem, p)]
    if p.is_dir():
        if (p / MANIFEST_FILENAME).is_file():
            return _manifest_entries(p)
        found = sorted(f for f in p.iterdir() if f.suffix.lower() in ARTIFACT_SUFFIXES)
        if not found:
            raise ModelLoadError(
                f"No .tflite or .onnx artifact in {p}. Expected a convert output directory "
                "(with manifest.json) or a directory of artifacts."
            )
        return [(f.stem, f) for f in found]
    raise ModelLoadError(f"Cannot serve {p}: no such file or directory.")
