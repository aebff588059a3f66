"""Runtime compatibility: which installed interpreters can run each artifact, and targets.

``--target-runtime`` takes ``tflite-runtime==2.14``, ``litert>=2.0``, ``onnxruntime>=1.16`` or
``opset<=13`` (also ``opset=13``). :func:`plan_for_target` turns it into converter options that
stay compatible (e.g. per-tensor dense quantization for tflite-runtime < 2.15, an opset the
ONNX Runtime version supports) and fails early when no setting can satisfy it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.convert.variants import MAX_OPSET, MIN_OPSET, ConvertOptions, VariantSpec
from edgeship.convert.worker import WorkerCrashed
from edgeship.errors import ConfigError, EdgeshipError

_SPEC = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.\-]*)\s*(==|>=|<=|=|>|<)\s*([0-9][0-9.]*)\s*$")
_ALIASES = {
    "tflite_runtime": "tflite-runtime",
    "tflite-runtime": "tflite-runtime",
    "litert": "litert",
    "ai-edge-litert": "litert",
    "ai_edge_litert": "litert",
    "tensorflow": "tf-lite",
    "tf-lite": "tf-lite",
    "onnxruntime": "onnxruntime",
    "opset": "opset",
}
#: Highest ONNX opset each ONNX Runtime minor version runs (from its release notes).
ORT_MAX_OPSET: dict[tuple[int, ...], int] = {
    (1, 10): 15,
    (1, 11): 16,
    (1, 12): 17,
    (1, 13): 17,
    (1, 14): 18,
    (1, 15): 19,
}
#: tflite-runtime releases before this one cannot run per-channel dense weights (FC v12).
TFLITE_PER_CHANNEL_DENSE_SINCE = (2, 15)


@dataclass(frozen=True)
class TargetRuntime:
    """A parsed ``--target-runtime`` spec: interpreter (or ``opset``), operator, version."""

    name: str
    op: str
    version: tuple[int, ...]

    @property
    def format(self) -> str:
        return "onnx" if self.name in ("onnxruntime", "opset") else "tflite"

    def allows(self, version: str) -> bool:
        """True when an installed ``version`` satisfies this spec."""
        got = _parse_version(version)
        want = self.version
        width = len(want)
        head = got[:width] + (0,) * max(0, width - len(got))
        return {
            "==": head == want,
            ">=": got >= want,
            "<=": head <= want,
            ">": got > want,
            "<": got < want,
        }[self.op]

    def oldest(self) -> tuple[int, ...]:
        """The oldest version the target may be (what compatibility must be planned for)."""
        return self.version

    def __str__(self) -> str:
        return f"{self.name}{self.op}{'.'.join(map(str, self.version))}"


def parse_target(text: str) -> TargetRuntime:
    """Parse ``NAME OP VERSION`` (e.g. ``tflite-runtime==2.14``).

    Raises:
        ConfigError: unknown runtime name or malformed spec.
    """
    match = _SPEC.match(text or "")
    if not match:
        raise ConfigError(
            f"Cannot read target runtime {text!r}. Expected NAME==VERSION or NAME>=VERSION, e.g. "
            "'tflite-runtime==2.14', 'onnxruntime>=1.16' or 'opset<=13'."
        )
    raw, op, version = match.groups()
    name = _ALIASES.get(raw.lower())
    if name is None:
        raise ConfigError(
            f"Unknown target runtime {raw!r}. Expected one of: "
            "tflite-runtime, litert, tensorflow, onnxruntime, opset."
        )
    return TargetRuntime(name, "==" if op == "=" else op, _parse_version(version))


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def plan_for_target(
    target: TargetRuntime, options: ConvertOptions, opset_given: bool
) -> tuple[ConvertOptions, list[str]]:
    """Return options that keep artifacts runnable on ``target`` and notes saying why.

    Raises:
        ConfigError: the target cannot be met (e.g. an explicit opset above what it runs).
    """
    notes: list[str] = []
    oldest = target.oldest()
    if target.name == "tflite-runtime" and oldest[:2] < TFLITE_PER_CHANNEL_DENSE_SINCE:
        options = options.with_changes(tflite_legacy_dense=True)
        notes.append(
            f"{target}: dense layers of dynamic-range models are quantized per tensor "
            "(FULLY_CONNECTED v12 is not in tflite-runtime < 2.15)"
        )
    max_opset: int | None = None
    if target.name == "opset":
        max_opset = oldest[0] if oldest else MAX_OPSET
        if target.op == "<":
            max_opset -= 1
    elif target.name == "onnxruntime":
        max_opset = ORT_MAX_OPSET.get(oldest[:2], MAX_OPSET) if oldest[:2] < (1, 16) else MAX_OPSET
    if max_opset is not None:
        if max_opset < MIN_OPSET:
            raise ConfigError(
                f"Target {target} needs ONNX opset <= {max_opset}; edgeship builds opset "
                f"{MIN_OPSET}..{MAX_OPSET}. Pick a newer runtime."
            )
        if options.opset > max_opset:
            if opset_given:
                raise ConfigError(
                    f"--opset {options.opset} does not run on {target} (max opset {max_opset}). "
                    f"Use --opset {max_opset} or lower."
                )
            options = options.with_changes(opset=max_opset)
            notes.append(f"{target}: ONNX opset lowered to {max_opset}")
    return options, notes


def installed_interpreters(fmt: str) -> dict[str, str]:
    """Installed interpreter names -> versions that run artifacts of format ``fmt``."""
    from edgeship.runtime import available_backends
    from edgeship.runtime.backends import BACKENDS

    return {
        name: version
        for name, version in available_backends().items()
        if name in BACKENDS and BACKENDS[name].reads(fmt)
    }


def run_on_backend(
    path: str, backend: str, inputs: dict[str, np.ndarray], agreement: dict[str, Any] | None = None
) -> str:
    """Load ``path`` on ``backend`` and run it: ``"ok"`` or the whole error text.

    Without ``agreement`` one sample is run. With it (``reference`` outputs of the source
    model on ``inputs``, their ``names``, ``labels``, the variant's ``tolerance`` fields and
    ``max_accuracy_drop``) every input is run and compared as the parity step compares:
    ``"ok"`` only when the outputs agree within the variant's limits, else the reasons."""
    from edgeship.runtime import load

    try:
        with load(path, backend=backend, verify=False) as engine:
            if agreement is None:
                names = [t.name for t in engine.inputs]
                from edgeship.convert.parity import align_inputs

                mapping = align_inputs(names, list(inputs))
                feed = {mapping[k]: v[:1] for k, v in inputs.items()}
                engine.predict(feed if len(feed) > 1 else next(iter(feed.values())))
            else:
                reasons = _disagreements(engine, inputs, agreement)
                if reasons:
                    return "disagrees with the source model: " + "; ".join(reasons)
    except Exception as exc:
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return f"{type(exc).__name__}: {text}"
    return "ok"


def _disagreements(
    engine: Any, inputs: dict[str, np.ndarray], agreement: dict[str, Any]
) -> list[str]:
    """The parity step's reasons (empty: agrees) for ``engine`` on ``inputs``."""
    from edgeship.convert.parity import check, compare, run_artifact
    from edgeship.convert.variants import Tolerance

    got = run_artifact(engine, inputs, agreement["names"])
    result = compare(agreement["reference"], got, agreement["names"], agreement["labels"])
    tolerance = Tolerance(**agreement["tolerance"])
    return check(result, tolerance, agreement["max_accuracy_drop"])


def runtime_verdicts(
    workers: tuple[Any, Any],
    path: Path,
    spec: VariantSpec,
    inputs: dict[str, np.ndarray],
    agreement: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Run ``path`` on every installed interpreter, each in a child process: one sample, or,
    with ``agreement`` (see :func:`run_on_backend`), every input compared with the source.

    ``tf-lite`` runs in the converter process (TensorFlow is loaded there already); the other
    interpreters run in a second child that never imports TensorFlow, because tflite-runtime
    fails inside a process that holds TensorFlow.
    """
    found: dict[str, str] = {}
    sample = inputs if agreement else {k: v[:1] for k, v in inputs.items()}
    extra = {"agreement": agreement} if agreement else {}
    for backend, version in installed_interpreters(spec.format.value).items():
        worker = workers[0] if backend == "tf-lite" else workers[1]
        try:
            found[f"{backend} {version}"] = worker.call(
                "check", path=str(path), backend=backend, inputs=sample, **extra
            )
        except WorkerCrashed as exc:
            found[f"{backend} {version}"] = f"crashed ({exc.signal_name or 'exit'})"
        except EdgeshipError as exc:
            found[f"{backend} {version}"] = str(exc)
    return found


def target_check(
    target: TargetRuntime | None, spec: VariantSpec, runtimes: dict[str, str]
) -> tuple[list[str], str | None]:
    """Errors and a verdict for ``target``: verified on an installed matching interpreter,
    or not verifiable here (the settings were still chosen for it)."""
    if target is None or target.format != spec.format.value:
        return [], None
    if target.name == "opset":
        return [], f"built for {target}"
    for key, verdict in runtimes.items():
        name, _, version = key.partition(" ")
        if name == target.name and target.allows(version):
            if verdict != "ok":
                return [f"does not run on target {target}: {verdict}"], f"fails on {key}"
            return [], f"runs on {key}"
    installed = [k for k in runtimes if k.partition(" ")[0] == target.name]
    return [], (
        f"not verified: no {target} installed here"
        + (f" (found {', '.join(installed)})" if installed else "")
        + "; settings were chosen for it"
    )
