"""Check an artifact before the native interpreter sees it.

* :func:`sniff_format` tells .tflite from .onnx by content and names the mistake otherwise.
* :func:`manifest_trust` looks for ``manifest.json`` beside the artifact: a matching sha256
  vouches for the file, a different one is an :class:`IntegrityError`.
* :func:`validate_in_subprocess` loads the file and runs one prediction in a child process,
  so a file that crashes the interpreter (abort, segfault) fails with a clean error instead
  of taking the caller down. Run as ``python -m edgeship.runtime.verify FILE``. Given the
  bytes the caller read, the child checks exactly those (sent on its stdin), never whatever
  the path holds by the time it reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from edgeship import errors
from edgeship.errors import IntegrityError, ModelLoadError
from edgeship.manifest import MANIFEST_FILENAME, TFLITE_SUFFIXES, Manifest

#: An ONNX model whose tensors live in other files (a ``location`` entry of external data).
_EXTERNAL_DATA = b"\x0a\x08location"
_CHILD_CODE = (
    "import sys; from edgeship.runtime.verify import _child; sys.exit(_child(sys.argv[1:]))"
)


def sniff_format(path: Path, head: bytes) -> str:
    """Return ``"tflite"`` or ``"onnx"`` for a file whose first bytes are ``head``."""
    suffix = path.suffix.lower()
    is_tfl = len(head) >= 8 and head[4:8] == b"TFL3"
    looks_onnx = len(head) >= 2 and head[0] == 0x08 and head[1] < 0x80
    if not head:
        raise ModelLoadError(f"{path} is empty (0 bytes). Expected a .tflite or .onnx model.")
    if suffix in TFLITE_SUFFIXES:
        if is_tfl:
            return "tflite"
        hint = " It looks like an ONNX model: rename it to .onnx." if looks_onnx else ""
        raise ModelLoadError(
            f"{path} is not a TFLite model: expected the 'TFL3' identifier at bytes 4-8, got "
            f"{head[4:8]!r}.{hint or ' The file is truncated, corrupt or of another format.'}"
        )
    if suffix == ".onnx":
        if is_tfl:
            raise ModelLoadError(
                f"{path} is a TFLite flatbuffer ('TFL3' identifier) named .onnx: rename it "
                "to .tflite."
            )
        return "onnx"
    if is_tfl:
        return "tflite"
    if looks_onnx:
        return "onnx"
    raise ModelLoadError(
        f"{path} has an unknown format (suffix {suffix or 'none'!r}). Expected a .tflite "
        "(TFLite flatbuffer) or .onnx (ONNX protobuf) file."
    )


def has_external_data(data: bytes) -> bool:
    """True when ONNX bytes refer to tensors stored in files beside the model: loading it
    needs its path (the folder), and its bytes alone do not cover the model."""
    return _EXTERNAL_DATA in data


def manifest_trust(path: Path, data: bytes | None = None) -> bool:
    """Return True when a manifest beside ``path`` records its sha256 and it matches.

    Args:
        path: the artifact.
        data: the file's bytes when already read (saves reading it again).

    Raises:
        IntegrityError: the manifest records another sha256 for this file.
    """
    manifest = path.parent / MANIFEST_FILENAME
    if not manifest.is_file():
        return False
    try:
        record = Manifest.read(manifest, require_schema=False).for_file(path.name)
    except (OSError, ModelLoadError):
        return False
    if record is None or record.sha256 is None:
        return False
    if data is None:
        data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.sha256:
        raise IntegrityError(
            f"{path} does not match its manifest {manifest}: expected sha256 {record.sha256}, "
            f"got {actual}. The file changed after conversion; convert again or restore it."
        )
    return True


def validate_in_subprocess(
    path: Path,
    backend: str = "auto",
    timeout: float = 120.0,
    while_waiting: Callable[[], object] | None = None,
    data: bytes | None = None,
) -> str:
    """Load ``path`` and run one prediction in a child process; return the backend it used.

    Args:
        path: the file.
        backend: the backend the child loads it on.
        timeout: seconds before the child is killed and the file refused.
        while_waiting: work for this process while the child runs (it must not read the
            file: e.g. importing the backend); its errors are left to the later load.
        data: the file's bytes as this process read them (and will load them): the child
            checks exactly these, from its stdin, and ``path`` only names the file. None:
            the child reads ``path`` (an ONNX model with external data needs its folder).

    Raises:
        ModelLoadError: the child crashed, timed out or could not load the file (the child's
            own typed error is re-raised with its message).
    """
    import json
    import subprocess

    from edgeship.childproc import child_env, signal_name

    # ``-c`` rather than ``-m``: runpy would import this module twice in the child.
    cmd = [sys.executable, "-c", _CHILD_CODE, str(path), "--backend", backend]
    if data is not None:
        cmd.append("--stdin")
    env = child_env(OPENBLAS_NUM_THREADS="1")  # numpy's BLAS threads: the probe needs none
    stdin = _unnamed_copy(data) if data is not None else None
    try:
        child = subprocess.Popen(
            cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    finally:
        if stdin is not None:
            stdin.close()  # the child holds its own descriptor
    try:
        if while_waiting is not None:
            with contextlib.suppress(Exception):
                while_waiting()
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        child.kill()
        child.communicate()
        raise ModelLoadError(
            f"Validating {path} took longer than {timeout:.0f} s in a child process; the file "
            "was not loaded. Pass verify=False only for files you trust."
        ) from exc
    except BaseException:  # interrupted: leave no child behind
        child.kill()
        child.communicate()
        raise
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    sig = signal_name(proc.returncode)
    if sig is not None:
        raise ModelLoadError(
            f"{path} crashed the {backend} interpreter ({sig}) while being validated in a child "
            "process; it was not loaded. The file is corrupt or not supported by this backend."
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if proc.returncode == 0 and result.get("ok"):
        return str(result.get("backend", backend))
    cls = getattr(errors, str(result.get("error", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.EdgeshipError)):
        cls = ModelLoadError
    message = result.get("message") or (
        f"validation of {path} failed in a child process (exit {proc.returncode}): "
        f"{proc.stderr.strip()[-500:]}"
    )
    raise cls(message)


def _unnamed_copy(data: bytes) -> BinaryIO:
    """``data`` in a file without a name (memory on Linux, else an unlinked temporary file),
    at offset 0: the child's stdin, which no other process can swap or rewrite."""
    import tempfile

    fh: BinaryIO
    try:
        fh = os.fdopen(os.memfd_create("edgeship-model", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):  # not Linux, or memfd refused
        fh = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
    try:
        fh.write(data)
        fh.flush()
        fh.seek(0)
    except BaseException:
        fh.close()
        raise
    return fh


_USAGE = "usage: python -m edgeship.runtime.verify PATH [--backend NAME] [--stdin]"


def _open_for_check(path: str, backend: str, from_stdin: bool) -> Any:
    """The Engine the child probes: ``path`` itself, or (``--stdin``) the bytes on stdin,
    with ``path`` naming them."""
    from edgeship.runtime import _open_engine, load

    if not from_stdin:
        return load(path, backend=backend, verify=False)
    from edgeship.runtime.backends import SessionOptions, resolve

    data = sys.stdin.buffer.read()
    p = Path(path)
    fmt = sniff_format(p, data[:16])
    return _open_engine(p, fmt, data, resolve(backend, fmt), SessionOptions())


def _child(argv: list[str]) -> int:
    """Validate one file; answer one JSON line on stdout. Imports only the runtime and the
    backend (no argparse: every import here is paid by each first verification)."""
    from_stdin = "--stdin" in argv
    argv = [a for a in argv if a != "--stdin"]
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--backend"):
        print(_USAGE, file=sys.stderr)
        return 2
    path, backend = argv[0], (argv[2] if len(argv) == 3 else "auto")
    import json

    from edgeship.runtime.verify_probe import probe

    # Native code may print to fd 1: answer on a private copy, send fd 1 to stderr.
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        with _open_for_check(path, backend, from_stdin) as engine:
            note = probe(engine)
            done = {"ok": True, "backend": engine.backend, "version": engine.backend_version}
            answer.write(json.dumps({**done, "note": note}) + "\n")
        return 0
    except errors.EdgeshipError as exc:
        answer.write(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
        answer.write("\n")
        return 1
    finally:
        answer.flush()


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
