"""Child-process entry: ``python -m edgeship.bench.worker MODE SPEC.json OUT.json``.

MODE ``run`` measures one configuration and writes a JSON list of result rows; ``cold``
loads the model, runs one inference and writes the wall-clock time of that first result
(``time.time_ns()``), so the parent can time process start to first result. Errors are
written into the rows (with their type) rather than lost in a traceback.

Environment:
    ``EDGESHIP_EXIT_WITH_PARENT=PID``: the process id of the parent that started this child
    (a fleet worker sets it to its own); the child exits with status 3 as soon as its parent
    is no longer ``PID``, also when the parent died before the child started.
    ``EDGESHIP_TEST_HOLD_FILE=PATH``: a test-only hook; the child waits until ``PATH`` exists
    before it loads or measures anything, so a test can catch it mid-run deterministically.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeship.bench.records import BenchRow, ColdResult


def _write(path: str, data: Any) -> None:
    from edgeship.fileio import atomic_write_json

    atomic_write_json(path, data)


def _cold(spec_data: dict[str, Any]) -> ColdResult:
    from edgeship.bench import inputs as inp
    from edgeship.runtime import InputRangeWarning, load

    engine = load(
        spec_data["artifact"],
        backend=spec_data.get("backend", "auto"),
        threads=spec_data.get("threads"),
        verify=False,
    )
    data = inp.synthetic(list(engine.inputs), int(spec_data.get("batch") or 1))
    with warnings.catch_warnings():  # random data times the model; its range says nothing
        warnings.simplefilter("ignore", InputRangeWarning)
        engine.predict(inp.as_model_input(data))
    done = time.time_ns()
    return {"first_result_ns": done, "backend": engine.backend}


#: Set by a fleet worker to its own process id: its children exit when it dies, so none is
#: left behind.
EXIT_WITH_PARENT_ENV = "EDGESHIP_EXIT_WITH_PARENT"

#: Test-only hook: the child waits until this file exists before loading or measuring.
HOLD_FILE_ENV = "EDGESHIP_TEST_HOLD_FILE"

#: Exit status of a child whose parent is gone.
ORPHAN_EXIT = 3


def exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """End this process (status 3) once its parent is no longer process ``parent``.

    Checked once now, so a child whose parent died before it started exits at once instead
    of watching its new parent (init) forever, then every ``poll_s`` seconds by a daemon
    thread. ``EDGESHIP_EXIT_WITH_PARENT`` is set to this process's id for its own children.
    """
    import os
    import threading

    if os.getppid() != parent:
        os._exit(ORPHAN_EXIT)
    os.environ[EXIT_WITH_PARENT_ENV] = str(os.getpid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(ORPHAN_EXIT)

    threading.Thread(target=watch, name="edgeship-exit-with-parent", daemon=True).start()


def _parent_to_watch(value: str | None) -> int | None:
    """The process id in ``EDGESHIP_EXIT_WITH_PARENT``; None when unset or not a pid > 1."""
    try:
        pid = int(value or "")
    except ValueError:
        return None
    return pid if pid > 1 else None


def _hold() -> None:
    import os

    marker = os.environ.get(HOLD_FILE_ENV)
    while marker and not os.path.exists(marker):
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    """Run the child; exit 0 when the output file was written."""
    import os

    parent = _parent_to_watch(os.environ.get(EXIT_WITH_PARENT_ENV))
    if parent is not None:
        exit_with_parent(parent)
    _hold()
    mode, spec_path, out_path = (argv if argv is not None else sys.argv[1:])[:3]
    with open(spec_path, encoding="utf-8") as fh:
        spec_data = json.load(fh)
    try:
        if mode == "cold":
            _write(out_path, _cold(spec_data))
            return 0
        from edgeship.bench.spec import RunSpec

        spec = RunSpec.from_dict(spec_data)
        rows: list[BenchRow]
        if spec.kind == "keras":
            from edgeship.bench.keras_child import run_keras

            rows = run_keras(spec)
        else:
            from edgeship.bench.single import run_spec

            rows = [run_spec(spec, verify=False)]
    except Exception as exc:
        from edgeship.bench.isolate import error_row

        message = f"{type(exc).__name__}: {exc}"
        if mode == "cold":
            _write(out_path, {"error": message})
            return 0
        rows = [error_row(spec_data, message, traceback.format_exc(limit=6))]
    for row in rows:
        row["isolated"] = True
    _write(out_path, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
