"""The tensor arena search of the TFLite Micro backend: each size is tried in a child process,
since TFLite Micro's host build can crash allocating a model in an arena that is too small."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeship._lazy import require
from edgeship.errors import BackendError
from edgeship.runtime.backends import BACKENDS

#: The arena search works in steps of this many bytes (TFLite Micro aligns buffers to 16).
ARENA_STEP = 16
#: The largest arena the search tries before it gives up.
ARENA_LIMIT = 256 << 20
#: Smallest arenas found in this process, by (model sha256, step, limit).
_ARENAS: dict[tuple[str, int, int], int] = {}


def _runtime_module() -> Any:
    """The TFLite Micro interpreter's Python module (a MissingDependencyError when absent)."""
    return require(
        "tflite_micro.python.tflite_micro.runtime",
        BACKENDS["tflm"].extra,
        "run .tflite files in the TFLite Micro interpreter",
    )


#: The child that tries arenas: TFLite Micro's host build can crash (SIGSEGV) allocating some
#: models in an arena that is too small, so no arena is tried in this process before it fits.
_PROBE = """
import sys
from tflite_micro.python.tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        runtime.Interpreter.from_bytes(data, arena_size=int(line))
        ok = 1
    except RuntimeError:
        ok = 0
    sys.stdout.write(f"{ok}\\n")
    sys.stdout.flush()
"""


class ArenaProbe:
    """Tries tensor arenas for one model in a child process (restarted after a crash, which
    counts as "does not fit"); TFLite Micro's reports go to a log read on failure."""

    def __init__(self, data: bytes) -> None:
        runtime = _runtime_module()
        self._dir = tempfile.TemporaryDirectory(prefix="edgeship-tflm-")
        self._model = Path(self._dir.name) / "model.tflite"
        self._model.write_bytes(data)
        self._log = Path(self._dir.name) / "tflm.log"
        root = str(Path(runtime.__file__).parents[3])  # the folder holding tflite_micro/
        path = os.environ.get("PYTHONPATH")
        self._env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
        self._proc: subprocess.Popen[str] | None = None
        self._died: str | None = None  # how the last child that crashed ended

    def fits(self, arena: int) -> bool:
        """True when the model allocates in ``arena`` bytes."""
        if self._proc is None or self._proc.poll() is not None:
            with open(self._log, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _PROBE, str(self._model)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    env=self._env,
                )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(f"{int(arena)}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        except (BrokenPipeError, OSError):
            answer = ""
        if not answer:  # it crashed on this arena
            code = self._proc.wait()
            self._died = _ending(code)
            return False
        return answer.strip() == "1"

    def report(self) -> str:
        """TFLite Micro's last lines of explanation."""
        lines = [ln.strip() for ln in self._log.read_text(errors="replace").splitlines()]
        text = " / ".join(dict.fromkeys(ln for ln in lines[-6:] if ln))
        if self._died:  # e.g. an abort() in a kernel's prepare, which prints nothing
            died = f"the interpreter {self._died} while allocating"
            return f"{text} ({died})" if text else f"{died}, without naming an operator"
        return text or "no report"

    def close(self) -> None:
        """Stop the child and remove the temporary files."""
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait()
            for stream in (self._proc.stdout,):
                if stream:
                    stream.close()
        self._dir.cleanup()

    def __enter__(self) -> ArenaProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ending(code: int) -> str:
    """``"died by SIGABRT"`` for a child's negative return code, ``"exited with 1"`` else."""
    if code < 0:
        try:
            return f"died by {signal.Signals(-code).name}"
        except ValueError:
            return f"died by signal {-code}"
    return f"exited with {code}"


def smallest_arena(data: bytes, step: int = ARENA_STEP, limit: int = ARENA_LIMIT) -> int:
    """The smallest tensor arena (a multiple of ``step`` bytes) in which TFLite Micro
    allocates the model ``data``, each size tried in a child process.

    Raises:
        BackendError: the model does not allocate even in ``limit`` bytes (the message
            carries TFLite Micro's own report).
    """
    key = (hashlib.sha256(data).hexdigest(), step, limit)
    if key in _ARENAS:  # the same bytes are loaded several times by one convert
        return _ARENAS[key]
    low, high = 0, max(step, (len(data) // step + 1) * step)
    with ArenaProbe(data) as probe:
        while not probe.fits(high):
            if high >= limit:
                raise BackendError(
                    f"TFLite Micro could not allocate the model in a {limit >> 20} MiB arena: "
                    f"{probe.report()}."
                )
            low, high = high, min(limit, high * 2)
        while high - low > step:  # low fails (0 always does), high allocates
            mid = (low + high) // 2 // step * step
            if probe.fits(mid):
                high = mid
            else:
                low = mid
    _ARENAS[key] = high
    return high
