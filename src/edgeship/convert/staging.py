"""Whole-folder atomic convert: build in a staging folder beside the output, swap it in at the end.

``convert`` writes every artifact, quant-debug CSV, the card and (last) the manifest into
``.<out>.edgeship-staging-<pid>-<random>`` next to ``<out>`` (same filesystem), then swaps
the two folders in one ``renameat2(RENAME_EXCHANGE)`` call (two renames where the kernel or
filesystem lacks it). Until that swap the old folder is untouched; after it the old folder is
gone. An interrupted convert (SIGINT, SIGTERM, an exception) removes its staging folder; one
killed outright (SIGKILL, power loss) leaves a clearly named staging folder that the next
convert into the same output removes. Files in the old folder that convert does not write
(notes, results of later steps) are carried into the new folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from edgeship.card import CARD_FILENAME
from edgeship.convert.manifest import MANIFEST_FILENAME
from edgeship.errors import ConfigError
from edgeship.fileio import make_dirs

STAGING_MARK = ".edgeship-staging-"
OLD_MARK = ".edgeship-old-"
_OUTPUT_SUFFIXES = (".tflite", ".onnx", ".bundle")
_OUTPUT_NAMES = (MANIFEST_FILENAME, CARD_FILENAME)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def is_convert_output(name: str) -> bool:
    """True for the files and folders a convert writes into its output folder."""
    return (
        name.endswith(_OUTPUT_SUFFIXES)
        or name in _OUTPUT_NAMES
        or name.endswith(".quant-debug.csv")
        or name.startswith(".routes-")
    )


def staging_prefix(out: Path) -> str:
    """Name prefix of the staging folders of output folder ``out`` (they sit beside it)."""
    return f".{out.name}{STAGING_MARK}"


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; :func:`commit` it, or it is removed.

    SIGTERM raises ``SystemExit(143)`` inside the block (main thread only), so that a
    terminated convert cleans up like an interrupted one; SIGINT raises ``KeyboardInterrupt``
    as usual. Either signal is also remembered: should library code swallow the exception,
    :func:`commit` raises it again instead of swapping a build that was asked to stop.
    """
    out = _real(out)
    make_dirs(out.parent)
    clean_stale(out)
    try:
        staging = Path(
            tempfile.mkdtemp(prefix=f"{staging_prefix(out)}{os.getpid()}-", dir=out.parent)
        )
    except OSError as exc:
        raise ConfigError(
            f"Cannot create a staging folder beside {out}: {exc.strerror or exc}. convert builds "
            "next to the output folder and swaps it in whole; choose an output folder whose "
            "parent is writable."
        ) from exc
    try:
        os.chmod(staging, out.stat().st_mode & 0o7777 if out.is_dir() else 0o777 & ~_umask())
        with _signals_raise():
            yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def commit(staging: Path, out: Path) -> None:
    """Make ``staging`` the folder ``out`` (carrying over files convert does not write).

    Raises:
        KeyboardInterrupt, SystemExit: SIGINT or SIGTERM arrived while the folder was built.
    """
    _stop_if_signalled()
    out = _real(out)
    if not out.is_dir():
        os.replace(staging, out)
        return
    inside = _inside(out)
    for entry in out.iterdir():
        if is_convert_output(entry.name) or (staging / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / entry.name, symlinks=True, copy_function=_link)
        else:
            _link(entry, staging / entry.name)
    if _exchange(staging, out):
        _reenter(out, inside)
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old folder
        return
    old = staging.with_name(staging.name.replace(STAGING_MARK, OLD_MARK))
    os.replace(out, old)
    os.replace(staging, out)
    _reenter(out, inside)
    shutil.rmtree(old, ignore_errors=True)


def _inside(out: Path) -> str | None:
    """The working directory relative to ``out`` when it lies inside it, else None."""
    try:
        rel = os.path.relpath(os.getcwd(), out)
    except (OSError, ValueError):
        return None
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def _reenter(out: Path, rel: str | None) -> None:
    """Move a working directory that was inside the old folder into the new one."""
    if rel is not None:
        target = out / rel
        os.chdir(target if target.is_dir() else out)


def relocate(value: Any, staging: Path, out: Path) -> Any:
    """``value`` (a manifest) with every mention of the staging folder's path turned into
    ``out``'s: messages name the files where they will be, not where they were built."""
    old, new = str(staging), str(_real(out))
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: relocate(v, staging, out) for k, v in value.items()}
    if isinstance(value, list):
        return [relocate(v, staging, out) for v in value]
    return value


def clean_stale(out: Path) -> list[Path]:
    """Remove staging folders of ``out`` left by converts that died; returns them.

    A left-over old folder (a crash between the two renames of the fallback swap) is moved
    back to ``out`` when ``out`` is missing.
    """
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    for mark in (STAGING_MARK, OLD_MARK):
        for entry in sorted(out.parent.glob(f".{out.name}{mark}*")):
            pid = entry.name[len(f".{out.name}{mark}") :].partition("-")[0]
            if not entry.is_dir() or (pid.isdigit() and _alive(int(pid))):
                continue
            if mark == OLD_MARK and not out.exists():
                os.replace(entry, out)
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _real(out: Path) -> Path:
    return Path(os.path.realpath(out)) if out.is_symlink() else Path(os.path.abspath(out))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _link(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Hard-link ``src`` to ``dst`` (same filesystem); copy where links are not allowed."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with ``renameat2``; False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"Cannot swap {a} and {b}: {os.strerror(code)}")


#: The signal that arrived inside :func:`staged`, if any (the handlers run in the main thread).
_signalled: list[int] = []


def _stop_if_signalled() -> None:
    if _signalled:
        signum = _signalled[-1]
        raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM (and SIGINT, where Python's own handler is in place) raise and are remembered."""
    _signalled.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        _signalled.append(signum)
        _stop_if_signalled()

    wanted = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        wanted.append(signal.SIGINT)  # not where SIGINT is ignored (a background job)
    previous = {signum: signal.signal(signum, handler) for signum in wanted}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
