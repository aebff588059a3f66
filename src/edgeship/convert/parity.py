"""Parity: run an artifact through :mod:`edgeship.runtime` and compare it with the source model.

Runs in the calling process (numpy + one backend, never TensorFlow). Per output it records
name, shape, dtype, ``max_abs_error``, ``mean_abs_error``, ``cosine`` and ``top1_agreement``;
for the whole variant the worst of those plus ``accuracy``/``accuracy_delta`` (percentage
points) when labels exist. :func:`check` turns a result and a tolerance into failure reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeship import metrics
from edgeship.convert.variants import Tolerance
from edgeship.runtime.names import align_inputs, align_outputs, normalize_name

__all__ = ["align_inputs", "align_outputs", "check", "compare", "normalize_name", "run_artifact"]


def run_artifact(
    engine: Any, inputs: dict[str, np.ndarray], source_outputs: Sequence[str]
) -> list[np.ndarray]:
    """Predict ``inputs`` (by source input name) with a runtime engine; outputs in source order."""
    engine_in = [t.name for t in engine.inputs]
    mapping = align_inputs(engine_in, list(inputs))
    feed = {mapping[k]: v for k, v in inputs.items()}
    try:
        result = engine.predict(feed if len(feed) > 1 else next(iter(feed.values())))
    except Exception:
        # Fixed-batch artifacts (e.g. recurrent models) may need one sample at a time.
        count = len(next(iter(inputs.values())))
        parts = [
            _as_list(
                engine.predict(
                    {k: v[i : i + 1] for k, v in feed.items()}
                    if len(feed) > 1
                    else next(iter(feed.values()))[i : i + 1]
                ),
                engine,
            )
            for i in range(count)
        ]
        outs = [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
    else:
        outs = _as_list(result, engine)
    order = align_outputs([t.name for t in engine.outputs], list(source_outputs))
    return [np.asarray(outs[i], dtype=np.float32) for i in order]


def _as_list(result: Any, engine: Any) -> list[np.ndarray]:
    if isinstance(result, dict):
        return [result[t.name] for t in engine.outputs]
    if isinstance(result, (list, tuple)):
        return list(result)
    return [result]


def compare(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    names: Sequence[str],
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compare artifact outputs with the source model's, output by output.

    Returns:
        ``{"max_abs_error", "mean_abs_error", "cosine", "top1_agreement", "accuracy",
        "source_accuracy", "accuracy_delta", "samples", "outputs": [...]}``; accuracy fields
        are None without labels, top-1 fields None when no output holds class scores.
    """
    per_output = []
    total_abs, total_count = 0.0, 0
    for name, ref, got in zip(names, reference, candidate, strict=True):
        ref64 = np.asarray(ref, dtype=np.float64)
        got64 = (
            np.asarray(got, dtype=np.float64).reshape(ref64.shape) if got.size == ref.size else got
        )
        entry: dict[str, Any] = {
            "name": name,
            "shape": list(np.shape(got)),
            "dtype": str(np.asarray(got).dtype),
        }
        if np.shape(got64) != ref64.shape:
            entry.update(
                max_abs_error=None,
                mean_abs_error=None,
                cosine=None,
                top1_agreement=None,
                error=f"shape {list(np.shape(got))} != source {list(ref64.shape)}",
            )
            per_output.append(entry)
            continue
        diff = np.abs(got64 - ref64)
        finite = bool(np.isfinite(got64).all())
        entry["max_abs_error"] = (
            float(diff.max()) if finite and diff.size else (0.0 if finite else None)
        )
        entry["mean_abs_error"] = (
            float(diff.mean()) if finite and diff.size else (0.0 if finite else None)
        )
        entry["cosine"] = metrics.cosine(ref64.ravel(), got64.ravel()) if finite else None
        entry["top1_agreement"] = (
            metrics.top1_agreement(ref64, got64) if metrics.is_scores(ref64) else None
        )
        entry["reference_max_abs"] = float(np.abs(ref64).max()) if ref64.size else 0.0
        total_abs += float(diff.sum()) if finite else float("inf")
        total_count += diff.size
        per_output.append(entry)
    result: dict[str, Any] = {
        "samples": len(reference[0]) if reference else 0,
        "max_abs_error": _worst(per_output, "max_abs_error", max),
        "mean_abs_error": (total_abs / total_count) if total_count else None,
        "cosine": _worst(per_output, "cosine", min),
        "top1_agreement": None,
        "accuracy": None,
        "source_accuracy": None,
        "accuracy_delta": None,
        "outputs": per_output,
    }
    first_scores = next(
        (i for i, e in enumerate(per_output) if e.get("top1_agreement") is not None), None
    )
    if first_scores is not None:
        result["top1_agreement"] = per_output[first_scores]["top1_agreement"]
        if labels is not None and len(labels) == len(reference[first_scores]):
            y = np.asarray(labels).reshape(-1)
            ref_acc = metrics.accuracy(reference[first_scores], y)
            acc = metrics.accuracy(candidate[first_scores], y)
            result.update(
                accuracy=acc,
                source_accuracy=ref_acc,
                accuracy_delta=round((acc - ref_acc) * 100, 4),
            )
    return result


def _worst(entries: list[dict[str, Any]], key: str, pick: Any) -> float | None:
    values = [e[key] for e in entries if e.get(key) is not None]
    if any(e.get(key) is None for e in entries):
        return None
    return float(pick(values)) if values else None


def check(result: dict[str, Any], tolerance: Tolerance, max_accuracy_drop: float) -> list[str]:
    """Return the reasons ``result`` fails ``tolerance`` and the accuracy gate (empty = pass).

    The ``unlabeled_*`` limits of ``tolerance`` gate when ``result`` has no accuracy (no
    labels); either way their verdict is recorded in ``result["error_limits"]``:
    ``{"gate": bool, "exceeded": [reasons]}``.
    """
    exceeded = _unlabeled_reasons(result, tolerance)
    gate = result.get("accuracy_delta") is None
    result["error_limits"] = {"gate": gate, "exceeded": exceeded}
    reasons: list[str] = list(exceeded) if gate else []
    for out in result["outputs"]:
        name = out["name"]
        if out.get("error"):
            reasons.append(f"output {name!r}: {out['error']}")
            continue
        if out["max_abs_error"] is None:
            reasons.append(f"output {name!r} holds NaN or Inf")
            continue
        if tolerance.atol is not None:
            limit = tolerance.atol + tolerance.rtol * out["reference_max_abs"]
            if out["max_abs_error"] > limit:
                reasons.append(
                    f"output {name!r} max_abs_error {out['max_abs_error']:.3g} > {limit:.3g}"
                )
        if tolerance.min_cosine is not None and out["cosine"] < tolerance.min_cosine:
            reasons.append(f"output {name!r} cosine {out['cosine']:.6f} < {tolerance.min_cosine}")
        agree = out.get("top1_agreement")
        if (
            tolerance.min_top1_agreement is not None
            and agree is not None
            and agree < tolerance.min_top1_agreement
        ):
            reasons.append(
                f"output {name!r} top1_agreement {agree:.4f} < {tolerance.min_top1_agreement}"
            )
    delta = result.get("accuracy_delta")
    if delta is not None and -delta > max_accuracy_drop:
        reasons.append(
            f"accuracy dropped {-delta:.2f} points (source {result['source_accuracy']:.4f}, "
            f"artifact {result['accuracy']:.4f}); max allowed drop is {max_accuracy_drop} points"
        )
    return reasons


def _unlabeled_reasons(result: dict[str, Any], tolerance: Tolerance) -> list[str]:
    """Where ``result`` exceeds the error limits ``tolerance`` sets for data without labels."""
    reasons: list[str] = []
    for out in result["outputs"]:
        name, error, cosine = out["name"], out.get("max_abs_error"), out.get("cosine")
        if error is None or cosine is None:
            continue  # shape mismatch or NaN: check() names those already
        if tolerance.unlabeled_atol is not None:
            limit = tolerance.unlabeled_atol + tolerance.unlabeled_rtol * out["reference_max_abs"]
            if error > limit:
                reasons.append(
                    f"output {name!r} max_abs_error {error:.3g} > {limit:.3g} (error limit "
                    "without labels)"
                )
        if tolerance.unlabeled_min_cosine is not None and cosine < tolerance.unlabeled_min_cosine:
            reasons.append(
                f"output {name!r} cosine {cosine:.6f} < {tolerance.unlabeled_min_cosine} "
                "(error limit without labels)"
            )
    return reasons
