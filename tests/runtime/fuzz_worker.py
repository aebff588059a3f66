"""Load model files named on stdin, one per line, and answer one JSON line each.

Run by test_fuzz.py as a child process: a file that crashes the native interpreter kills
only this worker (the test restarts it and records the crash). Answers:
``{"outcome": "ok"}``, ``{"outcome": "typed", "error": NAME}`` (an edgeship error) or
``{"outcome": "untyped", "error": NAME, "message": ...}`` (anything else: a bug).
With ``--verify`` each file is loaded with ``verify=True`` (checked in a child first): then
this worker must never crash or hang, whatever the file. The line ``<crash>`` makes the
worker kill itself with SIGSEGV: the test's proof that it sees a crash.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from edgeship.errors import EdgeshipError
from edgeship.runtime import load
from edgeship.runtime.verify_probe import probe


def main() -> None:
    # Native code may print to fd 1: keep a private copy for answers, send fd 1 to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    verify = "--verify" in sys.argv[1:]
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        if path == "<crash>":
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            with load(path, verify=verify) as engine:
                probe(engine)
            answer = {"outcome": "ok"}
        except EdgeshipError as exc:
            answer = {"outcome": "typed", "error": type(exc).__name__}
        except Exception as exc:
            answer = {"outcome": "untyped", "error": type(exc).__name__, "message": str(exc)[:300]}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
