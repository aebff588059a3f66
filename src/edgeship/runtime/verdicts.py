"""Verdicts of the child-process validation, cached by content so a file is checked once.

A verdict is stored only when the child loaded the file and ran it without crashing. It is
keyed by everything that decides whether the file can crash this process or is refused: the
sha256 of the exact bytes that will be loaded, the backend's name and version, the Python
build and the version of edgeship's own checks (its structure check and probe). A changed
file, another interpreter version, another Python or a later edgeship whose checks changed
misses the cache and is validated again. Verdicts are about the default CPU load the child
makes: a load with a delegate or a non-CPU execution provider neither reads nor records one.
A failed or crashed validation is never stored, so a cached verdict can only ever skip the
child for a file that already passed it.

Location: ``$EDGESHIP_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/edgeship``, else
``~/.cache/edgeship``; verdicts live in its ``verified/`` folder, one small JSON file each,
written atomically (temporary file + rename), so two processes may race on the same file:
each reader sees either no verdict or a whole one. A verdict counts only when the current
user owns it and no one else may write it. The cache is an optimisation: a folder that
cannot be written only means the next load validates again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

#: Environment variable naming the cache folder (overrides ``$XDG_CACHE_HOME/edgeship``).
CACHE_ENV = "EDGESHIP_CACHE_DIR"
SCHEMA = "edgeship.verdict/2"
#: Version of the checks a verdict vouches for: bump it whenever
#: :func:`edgeship.runtime.structure.check_structure`, the child's load or its probe refuse
#: more, so that files cached by an earlier release are checked again.
CHECKS_VERSION = 1


def cache_dir() -> Path:
    """The edgeship cache folder (it may not exist yet)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeship"


def checks_version() -> str:
    """The checks of this edgeship, e.g. ``edgeship-0.1.0/checks-1``."""
    from edgeship import __version__

    return f"edgeship-{__version__}/checks-{CHECKS_VERSION}"


def python_build() -> str:
    """The Python that loads the file, e.g. ``cpython-3.11.7-linux``."""
    v = sys.version_info
    return f"{sys.implementation.name}-{v.major}.{v.minor}.{v.micro}-{sys.platform}"


class VerdictKey(NamedTuple):
    """What a verdict is about: file content, backend, the Python that runs it and the checks.

    A NamedTuple rather than a frozen dataclass: building a dataclass costs about a
    millisecond at import, on the path of every load of an untrusted file.

    Attributes:
        sha256: hex sha256 of the file's bytes.
        backend: backend name (``"litert"``, ``"onnxruntime"``, ...).
        version: the backend package's version.
        python: :func:`python_build` of the process.
        checks: :func:`checks_version`, the edgeship checks the file passed.
    """

    sha256: str
    backend: str
    version: str
    python: str
    checks: str = checks_version()

    @property
    def digest(self) -> str:
        """File name of the verdict: a hash of every field."""
        text = "\0".join((SCHEMA, *self))
        return hashlib.sha256(text.encode()).hexdigest()

    def as_dict(self) -> dict[str, str]:
        """The fields, as stored in the verdict file."""
        return {
            "schema": SCHEMA,
            "sha256": self.sha256,
            "backend": self.backend,
            "version": self.version,
            "python": self.python,
            "checks": self.checks,
        }


def key_for(data: bytes, fmt: str, backend: str, version: str) -> VerdictKey | None:
    """The key of ``data`` on ``backend``; None where a verdict could not cover the model
    (an ONNX model with external data files)."""
    from edgeship.runtime.verify import has_external_data

    if fmt == "onnx" and has_external_data(data):
        return None
    return VerdictKey(hashlib.sha256(data).hexdigest(), backend, version, python_build())


def _path(key: VerdictKey, root: Path | None = None) -> Path:
    digest = key.digest
    return (root or cache_dir()) / "verified" / digest[:2] / f"{digest}.json"


def is_verified(key: VerdictKey) -> bool:
    """True when a verdict for ``key`` says the file loaded and ran in a child process."""
    try:
        with open(_path(key), encoding="utf-8") as fh:
            if not _private(os.fstat(fh.fileno())):
                return False
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("ok") is not True:
        return False
    return all(doc.get(k) == v for k, v in key.as_dict().items())


def _private(st: os.stat_result) -> bool:
    """A verdict counts only when this user wrote it and nobody else can change it."""
    if not hasattr(os, "getuid"):  # Windows: no owner bits to check
        return True
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def record_verified(key: VerdictKey, note: str = "") -> Path | None:
    """Store that ``key``'s file passed validation; the verdict's path, or None where the
    cache folder cannot be written."""
    import tempfile

    target = _path(key)
    doc = {**key.as_dict(), "ok": True, "note": note}
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".verdict.", suffix=".partial", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return None
    return target
