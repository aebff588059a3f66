"""Model control (Triton's model repository extension): list, load and unload models.

The model repository is the set of paths the server was started with. ``index`` lists every
model found there (``READY`` when loaded, ``UNAVAILABLE`` otherwise). With
``--model-control explicit``, ``load`` (re)loads a model by name from the repository and
``unload`` stops serving one once its running requests have finished; with the default
``none`` both are refused. A model name is never a path: names that are not URL-safe are
refused, and an artifact whose real location (after symbolic links) lies outside the
repository is refused too. Uploading model files or overriding the configuration in the
request (Triton's ``file:`` and ``config`` parameters) is not supported.
"""

from __future__ import annotations

import enum
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeship.discovery import discover
from edgeship.errors import ConfigError, ModelLoadError
from edgeship.serve.protocol import HttpError, parse_json
from edgeship.serve.registry import ModelRegistry

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_UNLOAD_PARAMETERS = ("unload_dependents",)


class ModelControl(str, enum.Enum):
    """Whether clients may load and unload models."""

    NONE = "none"
    EXPLICIT = "explicit"


class ModelRepository:
    """The models under the server's paths, and load/unload on its registry.

    Args:
        registry: the served models (it must carry its ``load_options``).
        paths: the artifact files and directories the server was started with.
        mode: :attr:`ModelControl.EXPLICIT` allows load/unload.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        paths: Sequence[str | os.PathLike[str]],
        mode: ModelControl | str = ModelControl.NONE,
    ) -> None:
        try:
            self.mode = ModelControl(mode)
        except ValueError as exc:
            raise ConfigError(
                f"model control must be one of {[m.value for m in ModelControl]}. Got: {mode!r}"
            ) from exc
        if self.mode is ModelControl.EXPLICIT and registry.load_options is None:
            raise ConfigError("Explicit model control needs a registry built by load_registry.")
        self.registry = registry
        self.roots = tuple(Path(p) for p in paths)
        options = registry.load_options
        self._discovery = options.discovery if options is not None else None
        self._lock = threading.Lock()

    def available(self) -> dict[str, tuple[Path, Path]]:
        """Models found in the repository now: ``{name: (artifact, root)}``."""
        found: dict[str, tuple[Path, Path]] = {}
        for root in self.roots:
            try:
                entries = discover(root, self._discovery)
            except ModelLoadError:
                continue  # a path that holds nothing (any more) lists nothing
            for name, artifact in entries:
                found.setdefault(name, (artifact, root))
        return found

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Body of ``POST /v2/repository/index``: name, version, state (and reason)."""
        rows = {
            m.name: {"name": m.name, "version": m.version, "state": "READY"} for m in self.registry
        }
        if self.mode is ModelControl.EXPLICIT and not ready_only:
            for name in self.available():
                rows.setdefault(
                    name,
                    {"name": name, "version": "", "state": "UNAVAILABLE", "reason": "unloaded"},
                )
        return [rows[n] for n in sorted(rows)]

    def _check(self, action: str, name: str) -> None:
        if self.mode is not ModelControl.EXPLICIT:
            raise HttpError(
                403,
                f"Cannot {action} '{name:.100}': model control is off. Start the server with "
                "--model-control explicit to load and unload models.",
            )
        if not _NAME_RE.match(name):
            raise HttpError(
                400,
                f"Cannot {action} {name[:100]!r}: a model is named by letters, digits, '.', '_' "
                "or '-' (as listed by POST /v2/repository/index), never by a path.",
            )

    def load(self, name: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Load (or reload) the model called ``name`` from the repository.

        Raises:
            HttpError: 403 when model control is off or the artifact lies outside the
                repository; 400 for a bad name, an unsupported parameter or an artifact that
                fails to load; 404 when the repository has no such model.
        """
        self._check("load", name)
        if parameters:
            uploads = any(str(key).startswith("file:") for key in parameters)
            first = next(iter(parameters))
            what = "Uploading model files" if uploads else f"Parameter {first!r:.60}"
            raise HttpError(
                400,
                f"{what} is not supported when loading '{name}'. Put the artifact in the model "
                "repository and load it by name, with no parameters.",
            )
        found = self.available().get(name)
        if found is None:
            raise HttpError(
                404,
                f"No model '{name}' in the model repository {[str(r) for r in self.roots]}. "
                "POST /v2/repository/index lists the models there.",
            )
        artifact, root = found
        if not _inside(artifact, root):
            raise HttpError(
                403,
                f"Refusing to load '{name}': its artifact {artifact} resolves to "
                f"{artifact.resolve()}, outside the model repository {root.resolve()}.",
            )
        options = self.registry.load_options
        if options is None:  # checked in __init__; the registry may have been swapped since
            raise ConfigError(
                f"Cannot load '{name}': the registry has no load options. Expected a registry "
                "built by load_registry(); build the ModelRepository over that one."
            )
        with self._lock:
            try:
                model = options.load(name, artifact)
            except (ModelLoadError, ConfigError, OSError) as exc:
                raise HttpError(400, f"Failed to load '{name}' from {artifact}: {exc}") from exc
            old = self.registry.put(model)
        if old is not None:
            old.retire()

    def unload(self, name: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Stop serving the model called ``name`` once its running requests have finished.

        Raises:
            HttpError: 403 when model control is off; 400 for a bad name or parameter; 404
                when no such model is loaded.
        """
        self._check("unload", name)
        unknown = sorted(set(parameters or {}) - set(_UNLOAD_PARAMETERS))
        if unknown:
            raise HttpError(
                400, f"Unknown unload parameters {unknown}. Known: {list(_UNLOAD_PARAMETERS)}."
            )
        with self._lock:
            model = self.registry.pop(name)
        if model is None:
            raise HttpError(404, f"Model '{name}' is not loaded. Loaded: {self.registry.names}.")
        model.retire()


def _inside(artifact: Path, root: Path) -> bool:
    real, base = artifact.resolve(), root.resolve()
    return real == base if base.is_file() else real.is_relative_to(base)


def control_parameters(body: bytes) -> dict[str, Any]:
    """The ``parameters`` object of a load/unload request body (empty body: none).

    Raises:
        HttpError: 400 when the body is not a JSON object or ``parameters`` is not one.
    """
    if not body.strip():
        return {}
    doc = parse_json(body, "load/unload request")
    params = doc.get("parameters", {}) if isinstance(doc, dict) else None
    if not isinstance(params, dict):
        raise HttpError(
            400, 'A load/unload body must be a JSON object like {"parameters": {...}} or empty.'
        )
    return params
