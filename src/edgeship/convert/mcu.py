"""The microcontroller target: ``tflm-int8`` built, checked and bundled for TFLite Micro.

After the converter writes the full-integer model, :func:`mcu_check` and :func:`mcu_finish`:

1. checks every operator against the kernels of the installed TFLite Micro interpreter and
   refuses a dynamic-range (hybrid) model (:class:`UnsupportedOperatorError`,
   :class:`McuTargetError`), naming the operator;
2. finds the smallest tensor arena that allocates (16-byte steps) and the flash size (the
   model's bytes);
3. runs the artifact in TFLite Micro and in LiteRT on the eval data and records the largest
   difference in output quantization steps and the share of outputs within one step (gate:
   at least :data:`MIN_WITHIN_ONE_STEP`); parity against Keras runs in convert's usual step,
   on the ``tflm`` backend;
4. gates arena and flash against the board budget (:class:`BoardBudgetError`);
5. writes the bundle (:mod:`edgeship.convert.mcu_bundle`) only when all of that passed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.convert.boards import Budget
from edgeship.convert.mcu_bundle import BUNDLE_FILES, write_bundle
from edgeship.errors import (
    BoardBudgetError,
    EdgeshipError,
    McuTargetError,
    UnsupportedOperatorError,
)
from edgeship.fileio import sha256_file

#: Variants built for microcontrollers (run on the ``tflm`` backend).
MCU_VARIANTS = ("tflm-int8",)
#: The share of outputs on which TFLite Micro and LiteRT must agree within one step.
MIN_WITHIN_ONE_STEP = 0.99


def check_model(data: bytes, source: str) -> list[str]:
    """The operators of ``data``, refusing what TFLite Micro cannot run.

    Raises:
        McuTargetError: a dynamic-range (hybrid) model.
        UnsupportedOperatorError: operators TFLite Micro has no kernel for (named).
    """
    from edgeship.runtime.backends.tflm import ModelOps, kernel_set

    info = ModelOps(data)
    if info.hybrid:
        raise McuTargetError(
            f"{source} is a dynamic-range (hybrid) model ({', '.join(info.hybrid)} take float "
            "activations with int8 weights); TFLite Micro does not run hybrid models. Expected "
            "a full-integer model: build the tflm-int8 variant (or tflite-int8)."
        )
    missing = info.missing()
    if missing:
        raise UnsupportedOperatorError(
            f"{source} uses operator(s) {', '.join(missing)} that TFLite Micro has no kernel "
            f"for (it has {len(kernel_set())} builtin kernels). Expected only operators of "
            "the TFLite Micro kernel set: replace the layers that produce "
            f"{', '.join(missing)}, or ship a LiteRT variant instead.",
            operators=missing,
        )
    if info.limits:
        raise UnsupportedOperatorError(
            f"{source}: TFLite Micro's kernels reject an operator's parameters: "
            + "; ".join(info.limits)
            + ". Expected a model TFLite Micro can prepare: calibrate on real, varied samples "
            "of a trained model.",
            operators=[limit.split(":", 1)[0] for limit in info.limits],
        )
    return info.ops


def step_parity(path: Path, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, Any]:
    """Run ``path`` in TFLite Micro and in LiteRT (the first other installed TFLite
    interpreter) on ``inputs``; compare in output quantization steps."""
    from edgeship.convert.parity import align_outputs, run_artifact
    from edgeship.runtime import available_backends, load

    others = [n for n in ("litert", "tflite-runtime") if n in available_backends()]
    if not others:
        return {"reference": None, "note": "no LiteRT interpreter installed: not compared"}
    with load(path, backend="tflm", verify=False) as micro:
        got = run_artifact(micro, inputs, outputs)
        specs = [micro.outputs[i] for i in align_outputs([t.name for t in micro.outputs], outputs)]
    with load(path, backend=others[0], verify=False) as ref_engine:
        ref = run_artifact(ref_engine, inputs, outputs)
        reference = f"{ref_engine.backend} {ref_engine.backend_version}"
    steps: list[np.ndarray] = []
    max_abs = 0.0
    for a, b, spec in zip(got, ref, specs, strict=True):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        if spec.quantization is not None:
            steps.append(np.rint(diff / spec.quantization[0]).ravel())
    record: dict[str, Any] = {"reference": reference, "max_abs_diff": max_abs}
    if steps:
        flat = np.concatenate(steps)
        record["max_steps"] = int(flat.max(initial=0))
        record["within_1_step"] = float(np.mean(flat <= 1)) if flat.size else 1.0
        record["outputs_compared"] = int(flat.size)
    return record


def mcu_check(path: Path, budget: Budget) -> tuple[dict[str, Any], list[str]]:
    """Before parity: the operators of the artifact at ``path`` against TFLite Micro.

    Returns:
        The manifest's ``mcu`` record (runtime, budget, operators) and the errors (a typed
        error's message naming the operator, or the hybrid model).
    """
    from edgeship.runtime.backends import backend_version

    record: dict[str, Any] = {"runtime": f"tflm {backend_version('tflm')}", **budget.to_dict()}
    try:
        record["ops"] = check_model(path.read_bytes(), path.name)
    except EdgeshipError as exc:  # McuTargetError, or tflite-micro missing
        return record, [f"{type(exc).__name__}: {exc}"]
    return record, []


def mcu_finish(
    record: dict[str, Any],
    path: Path,
    inputs: dict[str, np.ndarray],
    outputs: list[str],
    options: Any,
) -> list[str]:
    """After parity: measure arena and flash, compare with LiteRT in quantization steps,
    gate on ``options.mcu_budget()``, and write the bundle when all passed.

    Fills ``record`` in place (numbers are kept on failure) and returns the errors.
    """
    from edgeship.runtime.backends.tflm_arena import smallest_arena

    record["flash_bytes"] = path.stat().st_size
    record["arena_bytes"] = smallest_arena(path.read_bytes())
    record["litert_parity"] = parity = step_parity(path, inputs, outputs)
    errors = []
    within = parity.get("within_1_step")
    if within is not None and within < MIN_WITHIN_ONE_STEP:
        errors.append(
            f"TFLite Micro and {parity['reference']} agree within 1 quantization step on "
            f"{within:.2%} of outputs (largest difference {parity['max_steps']} steps). "
            f"Expected at least {MIN_WITHIN_ONE_STEP:.0%}."
        )
    try:
        options.mcu_budget().check(record["arena_bytes"], record["flash_bytes"])
    except BoardBudgetError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    if not errors:
        folder = write_bundle(path, record["ops"], record["arena_bytes"])
        record["bundle"] = {
            "dir": folder.name,
            "files": {name: sha256_file(folder / name) for name in BUNDLE_FILES},
        }
    return errors


def build_bundle(
    tflite: str | os.PathLike[str],
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Check and bundle an existing .tflite file for TFLite Micro (no Keras, no parity).

    Returns:
        ``{"ops", "arena_bytes", "flash_bytes", "bundle"}``.

    Raises:
        McuTargetError / UnsupportedOperatorError: a hybrid model or a missing kernel.
        BoardBudgetError: arena or flash over ``budget``. Nothing is written on any error.
    """
    from edgeship.runtime.backends.tflm_arena import smallest_arena

    path = Path(tflite)
    data = path.read_bytes()
    ops = check_model(data, path.name)
    arena = smallest_arena(data)
    (budget or Budget()).check(arena, len(data))
    folder = write_bundle(path, ops, arena)
    return {"ops": ops, "arena_bytes": arena, "flash_bytes": len(data), "bundle": str(folder)}
