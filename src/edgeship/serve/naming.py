"""The names models are served under: defaults, uniqueness, and names the user gives.

Defaults (see :mod:`edgeship.discovery`): a convert output directory names each ``ok``
variant by its variant (``tflite-int8``), any other directory names each artifact by its file
stem, and a single artifact file is named by its model card (``mnist-cnn-digits``), or by its
stem without a card. When several artifact files given one by one share a card (``serve
out/tflite-int8.tflite out/onnx-fp32.onnx``), each of them is named ``<card name>-<variant>``
instead (``mnist-cnn-digits-tflite-int8``), the variant being the one the manifest beside the
file lists for it, else the file stem. A single artifact keeps its card's name.

``NAME=PATH`` (``edgeship serve --name``, repeatable) names the artifact file PATH: it renames
PATH where it is served already (given itself, or inside a served directory) and serves it
otherwise. Every name must be URL-safe and used once.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from edgeship.card import find_card
from edgeship.discovery import ARTIFACT_SUFFIXES, DiscoveryPolicy, discover
from edgeship.errors import ConfigError
from edgeship.manifest import variant_name

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def parse_name(spec: str) -> tuple[str, str]:
    """Parse ``NAME=PATH``.

    Raises:
        ConfigError: no ``=``, an empty side, or a name that is not URL-safe.
    """
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise ConfigError(
            f"--name expects NAME=PATH (e.g. --name digits-int8=out/tflite-int8.tflite). "
            f"Got: {spec!r}"
        )
    _check_name(name, f"--name {spec}")
    return name, path


def _check_name(name: str, source: object) -> None:
    if not NAME_RE.match(name):
        raise ConfigError(
            f"Model name {name!r} (from {source}) is not URL-safe. Expected letters, digits, "
            "'.', '_' or '-' (at most 128, starting with a letter or digit); rename it with "
            "--name NAME=PATH."
        )


def variant_of(artifact: Path) -> str:
    """The variant name the manifest beside ``artifact`` lists for it, else its file stem."""
    return variant_name(artifact)


def _what(path: Path) -> str:
    if path.is_dir():
        return "a directory"
    if not path.exists():
        return "no such file"
    return f"a {path.suffix!r} file"


def _key(path: Path) -> Path:
    return Path(os.path.realpath(path))


def assign_names(
    paths: Sequence[str | os.PathLike[str]],
    names: Mapping[str, str | os.PathLike[str]] | None,
    discovery: DiscoveryPolicy | None = None,
) -> list[tuple[str, Path]]:
    """``(name, artifact)`` for everything ``paths`` and ``names`` serve (see the module
    docstring).

    Args:
        paths: artifact files or directories.
        names: ``{name: artifact file}`` given by the user.
        discovery: whether directories without a manifest and failed variants count.

    Raises:
        ConfigError: a name used twice, not URL-safe, or for a path that is no artifact file.
        ModelLoadError: a path holds no artifact.
    """
    entries: list[tuple[str, Path]] = []
    carded: list[int] = []  # entries named by their card: single files given one by one
    for p in paths:
        found = discover(p, discovery)
        if Path(p).is_file() and find_card(p) is not None:
            carded.append(len(entries))
        entries.extend(found)
    counts = Counter(entries[i][0] for i in carded)
    for i in carded:
        name, artifact = entries[i]
        if counts[name] > 1:
            entries[i] = (f"{name}-{variant_of(artifact)}", artifact)
    by_path = {_key(a): i for i, (_, a) in enumerate(entries)}
    for name, target in (names or {}).items():
        _check_name(name, f"--name {name}={target}")
        artifact = Path(target)
        if not artifact.is_file() or artifact.suffix.lower() not in ARTIFACT_SUFFIXES:
            raise ConfigError(
                f"--name {name}={target}: expected a .tflite or .onnx artifact file. Got "
                f"{_what(artifact)}."
            )
        index = by_path.get(_key(artifact))
        if index is None:
            by_path[_key(artifact)] = len(entries)
            entries.append((name, artifact))
        else:
            entries[index] = (name, entries[index][1])
    seen: dict[str, Path] = {}
    for name, artifact in entries:
        _check_name(name, artifact)
        if name in seen:
            raise ConfigError(
                f"Two artifacts would be served as '{name}': {seen[name]} and {artifact}. "
                f"Name one with --name OTHER={artifact} (or serve them from separate "
                "directories)."
            )
        seen[name] = artifact
    return entries
