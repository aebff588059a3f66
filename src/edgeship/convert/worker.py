"""One converter child process per convert.

The child imports TensorFlow and loads the model once, then converts variant after variant
on request. The TFLite converter can kill its process (SIGSEGV on some full-int8 models), so
it never runs in the caller's process: when the child dies, the call that was running raises
:class:`WorkerCrashed` naming the signal, and the next call starts a fresh child (the exported
SavedModel in the work directory is reused).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from edgeship.childproc import child_env, signal_name
from edgeship.errors import ConversionError, EdgeshipError

LOG_NAME = "worker.log"
#: Longest a single request (one conversion, one check) may take before the child is killed.
CALL_TIMEOUT = 1800.0


class WorkerCrashed(ConversionError):
    """The converter child died (e.g. killed by a signal) while serving a call."""

    def __init__(self, message: str, signal_name: str | None) -> None:
        super().__init__(message)
        self.signal_name = signal_name


class ConverterWorker:
    """Parent-side handle of the converter child process.

    Args:
        model_path: the source model.
        card: the model card as a dict (or None).
        workdir: scratch directory shared by successive children (SavedModel, logs).
        batch: a fixed batch size for the exported model (None keeps it free).
        input_shapes: ``--input-shape`` entries (``name=1x128``) fixing whole input shapes.
        unsafe: load the model with Keras safe mode off (trusted files only).
    """

    def __init__(
        self,
        model_path: str | Path,
        card: dict[str, Any] | None,
        workdir: Path,
        batch: int | None = None,
        input_shapes: tuple[str, ...] = (),
        unsafe: bool = False,
    ) -> None:
        self._args = (str(model_path), card, str(workdir), batch, list(input_shapes), unsafe)
        self._workdir = workdir
        self._process: Any = None
        self._conn: Connection | None = None
        self.restarts = 0
        self._started = False

    def __enter__(self) -> ConverterWorker:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        # Interrupted (Ctrl-C, SIGTERM, an error): the child may be busy converting; stop it now.
        self.close(wait=kind is None)

    def call(self, command: str, timeout: float | None = CALL_TIMEOUT, **kwargs: Any) -> Any:
        """Run ``command`` in the child and return its result.

        Args:
            command: handler name (see :mod:`edgeship.convert.handlers`).
            timeout: seconds before the child is killed and the call fails (None: no limit).
            **kwargs: the handler's arguments.

        Raises:
            WorkerCrashed: the child died (or was killed after ``timeout``) during the call.
            EdgeshipError: the typed error the child raised (re-raised here).
        """
        if self._process is None or self._process.poll() is not None:
            self._start()
        conn = self._conn
        if conn is None:  # pragma: no cover - _start always sets it
            raise ConversionError("The converter process could not be started.")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            conn.send((command, kwargs))
            while not conn.poll(0.2):
                if self._process.poll() is not None:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    self._process.kill()
                    raise self._crashed(command, f"timed out after {timeout:g} s")
            reply = conn.recv() if conn.poll(0) else None
        except (EOFError, OSError, BrokenPipeError):
            reply = None
        if reply is None:
            raise self._crashed(command)
        status, payload = reply
        if status == "ok":
            return payload
        kind, message = payload
        raise _rebuild_error(kind, message)

    def close(self, wait: bool = True) -> None:
        """Stop the child: politely (up to 10 s), then by force; at once when not ``wait``."""
        if self._process is None:
            return
        try:
            if wait and self._conn is not None and self._process.poll() is None:
                self._conn.send(("exit", {}))
                self._process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def _start(self) -> None:
        if self._started:
            self.restarts += 1
        self._started = True
        parent_sock, child_sock = socket.socketpair()
        # The child imports this very edgeship, installed or not.
        env = child_env(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
        with open(self._workdir / LOG_NAME, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "edgeship.convert._child", str(child_sock.fileno())],
                pass_fds=(child_sock.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        child_sock.close()
        self._process = process
        self._conn = Connection(parent_sock.detach())
        model_path, card, workdir, batch, shapes, unsafe = self._args
        init = {
            "model_path": model_path,
            "card": card,
            "workdir": workdir,
            "batch": batch,
            "input_shapes": shapes,
            "unsafe": unsafe,
        }
        self._conn.send(("init", init))

    def _crashed(self, command: str, reason: str | None = None) -> WorkerCrashed:
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait(timeout=5)
        killed_by = signal_name(code)
        what = f"killed by {killed_by}" if killed_by else f"exited with code {code}"
        if reason:
            what = f"{reason} and was stopped"
        tail = _log_tail(self._workdir / LOG_NAME)
        self._process = None
        return WorkerCrashed(
            f"The converter process {what} during '{command}'. Last log lines: {tail or '(none)'}",
            killed_by,
        )


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    useful = [
        line
        for line in text
        if line.strip() and "warn" not in line.lower() and not line.startswith("<frozen")
    ][-lines:]
    return " | ".join(line.strip() for line in useful)


def _rebuild_error(kind: str, message: str) -> Exception:
    import edgeship.errors as errors

    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, EdgeshipError) and cls is not errors.ParityError:
        return cls(message)
    return ConversionError(message)
