"""What ``edgeship predict`` reports for a batch: top-k labels per sample, output shapes and
the accuracy against labels, as one JSON-ready record."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship.runtime.engine import Engine, Output
from edgeship.runtime.preprocess import output_step, top_k

Row = list[tuple[str, float]]


def prediction_result(
    engine: Engine,
    out: Output,
    k: int,
    labels: np.ndarray | None,
    predict_ms: float,
    total_ms: float,
    labels_from: str = "labels",
) -> tuple[dict[str, Any], list[Row]]:
    """The result record of ``engine.predict`` output ``out`` and its top-``k`` rows.

    Args:
        engine: the engine that produced ``out`` (its card names the classes).
        out: one array, or arrays by output name (the first one holds the class scores).
        k: labels per sample.
        labels: true class ids per sample, or None.
        predict_ms: time of the prediction.
        total_ms: time of the whole command so far.
        labels_from: where ``labels`` came from, named in errors.

    Returns:
        ``(record, rows)``: the record (``artifact``, ``format``, ``backend``,
        ``backend_version``, ``providers`` (ONNX Runtime's, else None), ``samples``,
        ``outputs``, ``predictions``, ``predict_ms``, ``total_ms``, and ``accuracy`` with
        labels) and the ``(label, score)`` rows.

    Raises:
        DatasetError: a label beyond the model's classes.
    """
    first = out if isinstance(out, np.ndarray) else next(iter(out.values()))
    card = engine.card
    names = card.labels if card is not None else None
    step = output_step(engine.outputs)
    rows = [top_k(sample, names, k, step) for sample in first]
    outputs = out.items() if isinstance(out, dict) else [(engine.outputs[0].name, out)]
    result: dict[str, Any] = {
        "artifact": str(engine.path),
        "format": engine.format,
        "backend": engine.backend,
        "backend_version": engine.backend_version,
        "providers": list(engine.providers) if engine.providers else None,
        "samples": len(rows),
        "outputs": {name: list(v.shape) for name, v in outputs},
        "predictions": [
            {"top": [{"label": lab, "score": round(score, 6)} for lab, score in row]}
            | ({"label": str(labels[i])} if labels is not None else {})
            for i, row in enumerate(rows)
        ],
        "predict_ms": round(predict_ms, 3),
        "total_ms": round(total_ms, 3),
    }
    if labels is not None and rows:
        from edgeship.samples import check_label_range

        classes = int(first.shape[-1]) if first.ndim >= 2 else 1
        check_label_range(labels, classes, labels_from)
        names = names if names is not None and len(names) == classes else None
        hits = [
            row[0][0] == (names[int(y)] if names else str(int(y)))
            for row, y in zip(rows, labels, strict=False)
        ]
        result["accuracy"] = round(sum(hits) / len(hits), 6)
    return result, rows
