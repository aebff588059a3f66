"""Training on a backend other than the one Keras was imported with: a child process.

Keras fixes its backend when it is first imported, so a process whose Keras runs on
TensorFlow (a test session, a notebook, ``edgeship pipeline`` after a conversion) trains on
JAX or PyTorch in a child started with ``KERAS_BACKEND`` set. The parent sends the config as
JSON and reads back the result; a typed error raised in the child is raised again, with the
same class and message, in the parent.

Run as ``python -m edgeship.train.child CONFIG.json RESULT.json``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeship import errors
from edgeship.card import load_card
from edgeship.childproc import child_env, signal_name
from edgeship.fileio import atomic_write_json, read_json
from edgeship.train.config import TrainConfig
from edgeship.train.records import TrainResult


def keras_backend_in_use() -> str | None:
    """The backend of the Keras this process imported, or None when Keras is not imported."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return str(keras.backend.backend())


def run_in_child(config: TrainConfig) -> TrainResult:
    """Train ``config`` in a child process whose ``KERAS_BACKEND`` is ``config.backend``.

    Raises:
        EdgeshipError: the typed error the child raised (same class, same message).
        TrainingError: the child died (its signal or exit status is named).
    """
    with tempfile.TemporaryDirectory(prefix="edgeship-train-") as tmp:
        spec, answer = Path(tmp) / "config.json", Path(tmp) / "result.json"
        atomic_write_json(spec, config.to_dict())
        env = child_env(TF_CPP_MIN_LOG_LEVEL="2")
        env["KERAS_BACKEND"] = config.backend
        cmd = [sys.executable, "-m", "edgeship.train.child", str(spec), str(answer)]
        proc = subprocess.run(cmd, env=env, check=False)
        if not answer.is_file():
            how = signal_name(proc.returncode) or f"exit status {proc.returncode}"
            raise errors.TrainingError(
                f"Training on backend {config.backend!r} in a child process died ({how}) "
                "before it reported a result. Expected a finished run; see the output above."
            )
        result = read_json(answer)
    if "error" in result:
        kind = getattr(errors, str(result["error"]), None)
        if not (isinstance(kind, type) and issubclass(kind, errors.EdgeshipError)):
            kind = errors.TrainingError
        raise kind(str(result["message"]))
    out = Path(result["out"])
    return TrainResult(
        out=out,
        model_path=Path(result["model_path"]),
        card=load_card(out),
        test_accuracy=result["test_accuracy"],
        seconds=float(result["seconds"]),
        history=result["history"],
        chief=bool(result["chief"]),
    )


def main(argv: list[str]) -> int:
    """Train the config of ``argv[0]`` in this process; write the result to ``argv[1]``."""
    spec, answer = Path(argv[0]), Path(argv[1])
    config = TrainConfig.from_dict(read_json(spec))
    from edgeship.train.loop import train

    report: dict[str, Any]
    try:
        result = train(config)
    except errors.EdgeshipError as exc:
        report = {"error": type(exc).__name__, "message": str(exc)}
        atomic_write_json(answer, report)
        return 1
    except Exception as exc:  # an untyped failure: shown in full, reported as a TrainingError
        import traceback

        traceback.print_exc()
        message = f"Training on backend {config.backend!r} failed: {type(exc).__name__}: {exc}"
        atomic_write_json(answer, {"error": "TrainingError", "message": message})
        return 1
    report = {
        "out": str(result.out),
        "model_path": str(result.model_path),
        "test_accuracy": result.test_accuracy,
        "seconds": result.seconds,
        "history": result.history,
        "chief": result.chief,
    }
    atomic_write_json(answer, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
