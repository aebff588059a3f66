"""Entry point of the converter child process (``python -m edgeship.convert._child FD``).

Kept apart from :mod:`edgeship.convert.worker` so that running it does not import the package
module twice. It talks to the parent over the socket ``FD`` with pickled ``(command, kwargs)``
requests and ``("ok", result)`` / ``("error", (type name, message))`` replies.
"""

from __future__ import annotations

import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from edgeship.childproc import die_with_parent
from edgeship.errors import EdgeshipError


def _child_main(fd: int) -> None:
    """Entry point of the child: receive the model, load it lazily, serve calls."""
    die_with_parent()
    conn = Connection(fd)
    try:
        command, init = conn.recv()
    except (EOFError, OSError):
        return
    if command != "init":
        return
    from edgeship.convert import handlers

    state = handlers.WorkerState(
        init["model_path"],
        init["card"],
        Path(init["workdir"]),
        init.get("batch"),
        input_shapes=tuple(init.get("input_shapes") or ()),
        unsafe=bool(init.get("unsafe")),
    )
    while True:
        try:
            command, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        if command == "exit":
            return
        try:
            result = handlers.dispatch(state, command, kwargs)
            conn.send(("ok", result))
        except EdgeshipError as exc:
            conn.send(("error", (type(exc).__name__, str(exc))))
        except Exception as exc:  # anything else: report it with its type, keep serving
            traceback.print_exc()
            conn.send(("error", ("ConversionError", f"{type(exc).__name__}: {exc}")))
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
