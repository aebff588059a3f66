"""Per-layer quantization error (``--debug-quant``), run inside the converter worker.

TFLite: ``tf.lite.experimental.QuantizationDebugger`` layer statistics, ranked by
``rmse / scale`` (error in units of the quantization step). ONNX: ONNX Runtime's
``qdq_loss_debug`` activation matching, ranked by SQNR (dB, lower is worse). Both write a CSV
beside the artifact and return the worst layers, whose names ``--keep-float`` accepts.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from edgeship.fileio import atomic_write_text

WORST = 5


def tflite_layer_errors(tf: Any, converter: Any, dataset: Any, csv_path: Path) -> list[str]:
    """Run the TFLite quantization debugger; write its CSV; return the worst tensor names."""
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    for row in rows:
        scale = _float(row.get("scale"))
        mse = _float(row.get("mean_squared_error"))
        row["rmse/scale"] = (
            f"{math.sqrt(mse) / scale:.6g}" if scale and mse is not None and mse >= 0 else ""
        )
    _write(csv_path, rows)
    ranked = sorted((r for r in rows if r["rmse/scale"]), key=lambda r: -float(r["rmse/scale"]))
    return [r["tensor_name"] for r in ranked[:WORST]]


def onnx_layer_errors(
    fp32: Path, qdq: Path, reader: Any, workdir: Path, csv_path: Path
) -> list[str]:
    """SQNR of every activation of the QDQ model against the float model (ORT debugger).

    Returns the names of the nodes producing the worst activations (``nodes_to_exclude``).
    """
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as dbg

    aug_fp32, aug_qdq = workdir / "debug.fp32.onnx", workdir / "debug.qdq.onnx"
    dbg.modify_model_output_intermediate_tensors(str(fp32), str(aug_fp32))
    dbg.modify_model_output_intermediate_tensors(str(qdq), str(aug_qdq))
    float_acts = dbg.collect_activations(str(aug_fp32), reader)
    reader.rewind()
    qdq_acts = dbg.collect_activations(str(aug_qdq), reader)
    matching = dbg.create_activation_matching(qdq_acts, float_acts)
    errors = dbg.compute_activation_error(matching)
    producers = {out: node.name for node in onnx.load(str(fp32)).graph.node for out in node.output}
    rows = [
        {
            "tensor_name": name,
            "node": producers.get(name, ""),
            "qdq_sqnr_db": f"{float(err.get('qdq_err', float('nan'))):.6g}",
            "xmodel_sqnr_db": f"{float(err.get('xmodel_err', float('nan'))):.6g}",
        }
        for name, err in errors.items()
    ]
    _write(csv_path, rows)
    ranked = sorted(
        (r for r in rows if r["node"] and _float(r["xmodel_sqnr_db"]) is not None),
        key=lambda r: float(r["xmodel_sqnr_db"]),
    )
    return [r["node"] for r in ranked[:WORST]]


def _float(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        atomic_write_text(path, "")
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
