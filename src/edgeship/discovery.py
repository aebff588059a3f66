"""Which artifacts a path holds, and their names: what ``serve`` serves and ``bench`` measures.

A path given to the server or the benchmark is one artifact (``.tflite`` / ``.onnx``) or a
directory. A directory holding a ``manifest.json`` (the output of ``edgeship convert``) yields
every variant whose status is ``ok`` (``failed`` ones only when :class:`DiscoveryPolicy` says
so), named by its variant. A directory without a manifest holds artifacts nothing verified (an
interrupted convert leaves such folders): it is refused unless the policy allows it, and then
each artifact is named by its file stem, with a warning. A single artifact is named by its
model card, or by its file stem.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edgeship.card import find_card
from edgeship.errors import ConfigError, ModelLoadError
from edgeship.manifest import ARTIFACT_SUFFIXES, MANIFEST_FILENAME, Manifest

__all__ = [
    "ARTIFACT_SUFFIXES", "MANIFEST_FILENAME", "DiscoveryPolicy", "discover", "expand_artifacts",
]  # fmt: skip
_log = logging.getLogger("edgeship.serve")  # the name serve's and bench's users filter on


@dataclass(frozen=True)
class DiscoveryPolicy:
    """Which artifacts of a directory may be served or measured.

    Attributes:
        allow_no_manifest: take the artifacts of a directory without ``manifest.json``
            (nothing verified them; an interrupted convert leaves such folders).
        include_failed: also take the variants a manifest marks ``failed``.
    """

    allow_no_manifest: bool = False
    include_failed: bool = False


def _manifest_entries(directory: Path, policy: DiscoveryPolicy) -> list[tuple[str, Path]]:
    wanted = ("ok", "failed") if policy.include_failed else ("ok",)
    try:
        manifest = Manifest.read(directory / MANIFEST_FILENAME, require_schema=False)
        entries = [
            (v.name, manifest.artifact_path(v))
            for v in manifest.variants
            if v.status in wanted
            and (v.ok or (v.file is not None and manifest.artifact_path(v).is_file()))
        ]
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


def discover(
    path: str | os.PathLike[str], policy: DiscoveryPolicy | None = None
) -> list[tuple[str, Path]]:
    """Return ``(model name, artifact path)`` pairs for one artifact or directory.

    Args:
        path: an artifact file or a directory.
        policy: whether manifest-less directories and failed variants count (default: no).

    Raises:
        ModelLoadError: the path does not exist, holds no artifact, or is a directory without
            a manifest that ``policy`` does not allow.
    """
    policy = policy or DiscoveryPolicy()
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
            return _manifest_entries(p, policy)
        found = sorted(f for f in p.iterdir() if f.suffix.lower() in ARTIFACT_SUFFIXES)
        if not found:
            raise ModelLoadError(
                f"No .tflite or .onnx artifact in {p}. Expected a convert output directory "
                "(with manifest.json) or a directory of artifacts."
            )
        names = ", ".join(f.name for f in found[:4]) + (", ..." if len(found) > 4 else "")
        if not policy.allow_no_manifest:
            raise ModelLoadError(
                f"{p} holds {len(found)} artifact(s) ({names}) but no {MANIFEST_FILENAME}: "
                "nothing verified them (an interrupted 'edgeship convert' leaves such folders). "
                "Expected a convert output directory. Re-run 'edgeship convert', pass one "
                "artifact file, or pass --allow-no-manifest to use them unverified."
            )
        _log.warning(
            "%s has no %s: using %d unverified artifact(s) (%s)",
            p, MANIFEST_FILENAME, len(found), names,
        )  # fmt: skip
        return [(f.stem, f) for f in found]
    raise ModelLoadError(f"Cannot serve {p}: no such file or directory.")


def expand_artifacts(items: list[str], policy: DiscoveryPolicy | None = None) -> list[str]:
    """Files as given; a directory replaced by the variants its manifest marks ``ok``.

    ``policy`` may also take the failed variants, or the .tflite/.onnx files of a directory
    without a manifest.

    Raises:
        ConfigError: a path does not exist, or a directory holds no artifact.
        ModelLoadError: a directory without a manifest that ``policy`` does not allow.
    """
    out: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted([*path.glob("*.tflite"), *path.glob("*.onnx")])
            if not found:
                raise ConfigError(
                    f"{path} holds no .tflite or .onnx files. "
                    "Expected artifacts from 'edgeship convert'."
                )
            out += [str(p) for _, p in discover(path, policy)]
        elif path.is_file():
            out.append(str(path))
        else:
            raise ConfigError(
                f"{path} does not exist. Expected a .tflite/.onnx file or a directory of them."
            )
    return out
