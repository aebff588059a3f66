"""``--auto-keep-float``: keep layers of a failing quantized variant in float only where it helps.

The search runs in the parent around the variant's builds (``build(options) -> record``):

1. The per-layer debugger ranks the layers (``--debug-quant``).
2. One build keeps every ranked layer in float at once. When even that does not pass the gate
   nor improve it by more than noise, float-keeping cannot reach the gate: the search stops.
3. Otherwise the layers are tried one at a time, worst first; a layer stays float only when
   the variant then passes, or its gate metric improves by more than noise (one eval sample
   for accuracy, a tenth of the cosine gap without labels). When no such path passes but the
   all-layers build did, every layer that set does not need is dropped from it.
4. A build bigger than the float model is refused: an integer variant that outgrows float32
   is not worth shipping. A variant that still fails keeps no layer in float (the report
   says which layers came closest).

Whatever the outcome, the record says what was tried and, when the variant still fails, the
likely cause (the 8-bit output cannot separate close class scores; data outside the
calibrated range), in its errors (shown on the console) and in
``params["auto_keep_float_report"]``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.convert.manifest import STATUS_OK, artifact_fields
from edgeship.convert.variants import ConvertOptions, Precision, VariantSpec

Build = Callable[[ConvertOptions], dict[str, Any]]

MAX_KEPT = 5  # the debugger ranks five layers at most
MAX_TRIALS = 5
COSINE_NOISE = 0.1  # a measurable change removes at least a tenth of the gap to cosine 1
CLIPPED_WARN = 0.01


def score(record: dict[str, Any]) -> tuple[float, float] | None:
    """The gate metric of a built record (higher is better) and its noise, or None.

    With labels: the accuracy delta in points, noise one eval sample. Without: the cosine as
    digits of agreement (``-log10(1 - cosine)``), noise a tenth of the gap.
    """
    parity = record.get("parity")
    if not parity:
        return None
    if parity.get("accuracy_delta") is not None:
        return float(parity["accuracy_delta"]), 100.0 / max(1, int(parity["samples"]))
    cosine = parity.get("cosine")
    if cosine is None:
        return None
    return -math.log10(max(1.0 - float(cosine), 1e-12)), -math.log10(1.0 - COSINE_NOISE)


def helps(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """True when ``new`` passes where ``old`` fails, or scores better by more than noise."""
    if new.get("status") == STATUS_OK:
        return old.get("status") != STATUS_OK
    a, b = score(new), score(old)
    return a is not None and b is not None and a[0] - b[0] > b[1]


def _describe(record: dict[str, Any]) -> str:
    parity = record.get("parity") or {}
    if parity.get("accuracy_delta") is not None:
        return f"accuracy delta {parity['accuracy_delta']:+.2f}"
    if parity.get("cosine") is not None:
        return f"cosine {parity['cosine']:.6f}"
    return "not built: " + "; ".join(record.get("errors") or ["no result"])


def auto_keep_float(
    build: Build,
    spec: VariantSpec,
    opts: ConvertOptions,
    record: dict[str, Any],
    out: Path,
    reference: Sequence[np.ndarray],
    eval_inputs: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Search the layers to keep in float for the failing ``record``; see the module doc.

    Returns the record to keep (its file is the one on disk).
    """
    keep = list(opts.keep_float)
    report: dict[str, Any] = {"tried": [], "stopped": "", "likely_cause": ""}
    trial_opts = opts.with_changes(debug_quant=False)
    if spec.precision is Precision.INT16X8:
        report["stopped"] = (
            "not available for 16x8: TFLite's selective quantization builds int8 activations"
        )
        return _finish(record, [], report)
    debug = record
    if "worst_layers" not in (record.get("params") or {}):
        debug = build(opts.with_changes(debug_quant=True))
    if debug.get("status") == STATUS_OK:  # the same build passed this time
        return _finish(debug, [], report)
    params = debug.get("params") or {}
    rows = _csv_rows(out / params["quant_debug"]) if params.get("quant_debug") else []
    report["likely_cause"] = likely_cause(spec, rows, reference, eval_inputs or {})
    candidates = [w for w in params.get("worst_layers", []) if w not in keep]
    float_bytes = params.get("float_bytes")
    best = debug
    kept: list[str] = []

    def attempt(names: list[str]) -> dict[str, Any]:
        trial = build(trial_opts.with_changes(keep_float=(*keep, *names)))
        entry = {"keep_float": names, "status": trial["status"], "result": _describe(trial)}
        size = trial.get("size_bytes")
        if float_bytes and size and size > float_bytes:
            entry["refused"] = (
                f"{size / 1024:.1f} KiB, bigger than float32 ({float_bytes / 1024:.1f} KiB)"
            )
            trial = {**trial, "status": "refused", "parity": None}
        report["tried"].append(entry)
        return trial

    if candidates:
        kept, best = _search(attempt, debug, candidates, report)
    else:
        report["stopped"] = "the debugger ranked no layer that could stay in float"
    on_disk = artifact_fields(out / spec.filename)["sha256"]
    if on_disk != best.get("sha256") or (opts.debug_quant and "quant_debug" not in best["params"]):
        # a later trial replaced the file (or the debug CSV must describe the kept model)
        best = build(opts.with_changes(keep_float=(*keep, *kept)))
    if float_bytes:
        best.setdefault("params", {}).setdefault("float_bytes", float_bytes)
    return _finish(best, kept, report)


Attempt = Callable[[list[str]], dict[str, Any]]


def _search(
    attempt: Attempt, plain: dict[str, Any], candidates: list[str], report: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The layers to keep and their record; ``([], plain)`` when no set passes the gate."""
    bound = attempt(candidates)
    if bound.get("parity") is not None and not helps(bound, plain):
        report["stopped"] = (
            f"keeping all {len(candidates)} ranked layers in float does not reach the gate "
            f"({_describe(bound)}, against {_describe(plain)} with none): float-keeping "
            "cannot reach it"
        )
        return [], plain
    kept: list[str] = []
    buildable: list[str] = []
    current = plain
    for name in candidates[:MAX_TRIALS]:
        if len(kept) >= MAX_KEPT or current.get("status") == STATUS_OK:
            break
        trial = attempt([*kept, name])
        if trial.get("parity") is None:
            continue  # this layer cannot stay float here (e.g. the int8 input/output)
        buildable.append(name)
        if helps(trial, current):
            kept.append(name)
            current = trial
    if current.get("status") == STATUS_OK:
        return kept, current
    if bound.get("parity") is None and len(buildable) > 1 and buildable != kept:
        bound = attempt(buildable)  # every layer that can stay float, at once
        candidates = buildable
    if bound.get("status") == STATUS_OK:
        return _prune(attempt, list(candidates), bound)
    if kept:
        report["stopped"] = (
            f"keeping {len(kept)} layer(s) in float improved the gate metric "
            f"({_describe(current)}, against {_describe(plain)} with none) but not through "
            "the gate; the variant is kept without them"
        )
        report["best_without_passing"] = {"keep_float": kept, "result": _describe(current)}
    elif bound.get("parity") is not None:
        report["stopped"] = (
            f"keeping every layer that can stay float ({len(candidates)}) does not reach the "
            f"gate ({_describe(bound)}): float-keeping cannot reach it"
        )
    else:
        report["stopped"] = "no layer kept in float improved the gate metric by more than noise"
    return [], plain


def _prune(
    attempt: Attempt, names: list[str], passing: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """Drop, least harmful first, every layer the passing set does not need."""
    for name in reversed(list(names)):
        if len(names) == 1:
            break
        trial = attempt([n for n in names if n != name])
        if trial.get("status") == STATUS_OK:
            names, passing = [n for n in names if n != name], trial
    return names, passing


def _finish(record: dict[str, Any], kept: list[str], report: dict[str, Any]) -> dict[str, Any]:
    params = record.setdefault("params", {})
    params["auto_keep_float"] = kept
    params["auto_keep_float_report"] = report
    if record.get("status") != STATUS_OK:
        line = f"--auto-keep-float: {report['stopped'] or 'the variant still fails'}"
        refused = [e for e in report["tried"] if e.get("refused")]
        if refused:
            line += f" ({len(refused)} build(s) refused: {refused[0]['refused']})"
        if report["likely_cause"]:
            line += f". Likely cause: {report['likely_cause']}"
        record["errors"] = [*record.get("errors", []), line]
    return record


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def likely_cause(
    spec: VariantSpec,
    rows: list[dict[str, str]],
    reference: Sequence[np.ndarray],
    eval_inputs: dict[str, np.ndarray],
) -> str:
    """What keeps the quantized variant from the float model's answers, from its debug rows.

    Checks the quantized input against the eval data (values outside the calibrated range are
    clipped), the quantized output (class scores closer together than one output step become
    ties), then the ranges inside the model on the calibration data.
    """
    causes = []
    for row in rows:
        if row.get("role") != "input" or not row.get("scale") or len(eval_inputs) != 1:
            continue
        info = np.iinfo(np.dtype(row["dtype"]))
        scale, zero_point = float(row["scale"]), int(row["zero_point"])
        low, high = (info.min - zero_point) * scale, (info.max - zero_point) * scale
        values = np.asarray(next(iter(eval_inputs.values())), np.float64)
        outside = float(np.mean((values < low - scale / 2) | (values > high + scale / 2)))
        if outside > 0:
            causes.append(
                f"the calibration range: {outside:.1%} of the eval input values lie outside "
                f"the range the quantized input was calibrated for ({low:.3g} to {high:.3g}) "
                "and are clipped; calibrate on data that covers what the model will see"
            )
    scores = next((r for r in reference if np.ndim(r) == 2 and np.shape(r)[1] > 1), None)
    output = next((r for r in rows if r.get("role") == "output" and r.get("scale")), None)
    if scores is not None and output is not None:
        step = float(output["scale"])
        top = np.sort(np.asarray(scores, np.float64), axis=1)[:, -2:]
        close = int(np.sum(top[:, 1] - top[:, 0] < step))
        if close:
            fix = (
                "build tflite-int8-float-io (float input and output)"
                if spec.precision is Precision.INT8
                else "keep the output layer in float (--keep-float)"
            )
            causes.append(
                f"the quantized output: {close} of {len(top)} eval samples have their two best "
                f"class scores closer than one output step ({step:.3g}), so they become ties; "
                f"{fix}"
            )
    clipped = [r for r in rows if r.get("clipped") and float(r["clipped"]) > CLIPPED_WARN]
    for row in clipped[:2]:
        causes.append(
            f"the calibration range: {float(row['clipped']):.1%} of the values of "
            f"{row['tensor_name']!r} fall outside its calibrated range and are clipped"
        )
    return "; ".join(causes)
