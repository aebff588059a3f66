"""Atomic file writes and hashing: nothing half-written ever looks valid."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeship.errors import ArtifactExistsError, ConfigError, opt_in


def not_a_file(path: str | os.PathLike[str]) -> str:
    """Why ``path`` cannot be read as a file: "is a directory" or "does not exist"."""
    return "is a directory" if Path(path).is_dir() else "does not exist"


def make_dirs(path: str | os.PathLike[str]) -> Path:
    """Create directory ``path`` (and its parents); a typed error when that is impossible.

    Raises:
        ConfigError: a file stands where a directory must be, or the place is not writable.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((q for q in (p, *p.parents) if q.exists() and not q.is_dir()), p)
        raise ConfigError(
            f"Cannot create directory {p}: {blocker} is a file. Choose another output path."
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"Cannot create directory {p}: {exc.strerror or exc}. Choose a writable output path."
        ) from exc
    return p


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Fail now, not after the work, when ``path`` cannot be written (directory in the way,
    parent not creatable)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"Output file {p} is a directory. Expected a file path.")
    make_dirs(p.parent)
    if not os.access(p.parent, os.W_OK):
        raise ConfigError(f"Cannot write {p}: {p.parent} is not writable.")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary file lives in the same directory (so the rename is atomic) and is removed
    when the block raises. With ``force=False`` an existing ``path`` raises
    :class:`ArtifactExistsError` before anything is written.
    """
    target = Path(path)
    if not force and target.exists():
        raise ArtifactExistsError(
            f"{target} already exists. Expected a new path; "
            f"{opt_in('--force', 'force')} to replace it."
        )
    make_dirs(target.parent)
    import tempfile  # here: reading files needs neither tempfile nor its shutil and random

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _file_mode(target: Path) -> int:
    """The mode a plain ``open(target, "w")`` would give: the old file's, or 0o666 less umask.

    ``mkstemp`` creates 0o600 files, which other users (or a copy on a device) cannot read.
    """
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_UMASK


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_path(path, force=force) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, force: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), force=force)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, force: bool = True) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically. NaN/Inf are written as null."""
    import json  # imported here, like tempfile: reading a model and an input needs neither

    text = json.dumps(_finite(obj), indent=2, sort_keys=False, default=_json_default)
    return atomic_write_text(path, text + "\n", force=force)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    import json

    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return _finite(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
