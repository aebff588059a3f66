"""Per-layer quantization error of ONNX artifacts (``--debug-quant``), in the converter worker.

Every activation of the quantized model (QDQ static or dynamic range) is compared with the
float model's tensor of the same name (``xmodel_sqnr_db``, and the dB each node loses against
its inputs, ``sqnr_loss_db``); for QDQ tensors also the error of the quantize/dequantize pair
alone (``qdq_sqnr_db``), with an activation fused into its Conv/Gemm (Relu, Clip) applied to
the tensor before the pair, so both sides of the comparison are post-activation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.convert.debug import WORST, TensorError, fmt, write_csv

_FUSABLE = ("Relu", "Clip")


def onnx_layer_errors(
    fp32: Path, quantized: Path, reader: Any, workdir: Path, csv_path: Path
) -> list[str]:
    """SQNR of every activation of the quantized ONNX model against the float model.

    Works for QDQ (static) and dynamic-range models. Returns the names of the float model's
    nodes that lose the most signal against their inputs (``nodes_to_exclude``).
    """
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as dbg

    aug_fp32, aug_q = workdir / "debug.fp32.onnx", workdir / "debug.quant.onnx"
    dbg.modify_model_output_intermediate_tensors(str(fp32), str(aug_fp32))
    dbg.modify_model_output_intermediate_tensors(str(quantized), str(aug_q))
    float_acts = dbg.collect_activations(str(aug_fp32), reader)
    reader.rewind()
    quant_acts = dbg.collect_activations(str(aug_q), reader)
    float_graph, quant_graph = onnx.load(str(fp32)).graph, onnx.load(str(quantized)).graph
    float_nodes = {out: node for node in float_graph.node for out in node.output}
    quant_nodes = {out: node for node in quant_graph.node for out in node.output}
    constants = {t.name: t for t in float_graph.initializer}
    scales = _qdq_scales(quant_graph)
    graph_outputs = {o.name for o in float_graph.output}
    pairs = dbg.create_activation_matching(quant_acts)  # QDQ pairs: pre_qdq / post_qdq
    rows = []
    for name, float_values in float_acts.items():
        node = float_nodes.get(name)
        got = quant_acts.get(name)
        if node is None or got is None:
            continue
        entry = TensorError()
        pair = pairs.get(name)
        for ref, value in zip(float_values, pair["post_qdq"] if pair else got, strict=False):
            entry.add(ref, value)
        fused = _fused_activation(node, quant_nodes.get(name), constants)
        before, after = (pair["pre_qdq"], pair["post_qdq"]) if pair else ([], [])
        for pre, post in zip(before, after, strict=False):
            entry.add_local(fused(pre) if fused else pre, post)
        note = f"{node.op_type} fused into {quant_nodes[name].op_type}" if fused else ""
        rows.append(
            {
                "tensor_name": name,
                "node": node.name,
                "op_type": node.op_type,
                "role": "output" if name in graph_outputs else "",
                "scale": fmt(scales.get(name)),
                "qdq_sqnr_db": fmt(entry.local_sqnr_db),
                "xmodel_sqnr_db": fmt(entry.sqnr_db),
                "sqnr_loss_db": "",
                "max_abs_error": fmt(entry.max_abs if entry.count else None),
                "note": note,
            }
        )
    sqnr = {r["tensor_name"]: float(r["xmodel_sqnr_db"]) for r in rows if r["xmodel_sqnr_db"]}
    for row in rows:
        if row["tensor_name"] in sqnr:
            upstream = _upstream(float_nodes[row["tensor_name"]], float_nodes, sqnr)
            own = sqnr[row["tensor_name"]]
            if upstream:  # a node fed by the graph input alone has nothing to compare with
                row["sqnr_loss_db"] = fmt(max(0.0, min(upstream) - own))
    write_csv(csv_path, rows)
    ranked = sorted(
        (r for r in rows if r["sqnr_loss_db"] and float(r["sqnr_loss_db"]) > 0.0),
        key=lambda r: (-float(r["sqnr_loss_db"]), float(r["xmodel_sqnr_db"])),
    )
    return [r["node"] for r in ranked[:WORST]]


def _upstream(
    node: Any, nodes: dict[str, Any], sqnr: dict[str, float], depth: int = 8
) -> list[float]:
    """SQNR of the measured tensors feeding ``node``, through unmeasured (fused) ones."""
    found: list[float] = []
    for name in node.input:
        if name in sqnr:
            found.append(sqnr[name])
        elif name in nodes and depth > 0:
            found += _upstream(nodes[name], nodes, sqnr, depth - 1)
    return found


def _qdq_scales(graph: Any) -> dict[str, float]:
    """Scale of each tensor a QuantizeLinear quantizes with one (per-tensor) scale."""
    from onnx import numpy_helper

    constants = {t.name: t for t in graph.initializer}
    found = {}
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[1] in constants:
            value = numpy_helper.to_array(constants[node.input[1]])
            if value.size == 1:
                # a graph output is quantized under a new name: ``<output>_QuantizeLinear_Input``
                name = node.input[0].removesuffix("_QuantizeLinear_Input")
                found[name] = float(value.reshape(-1)[0])
    return found


def _fused_activation(
    float_node: Any, quant_node: Any, constants: dict[str, Any]
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The float model's activation, when the quantized model folded it into its producer.

    ONNX Runtime's QDQ quantizer drops a Relu/Clip after Conv/Gemm (the quantized range does
    the clipping), so the tensor before the quantize/dequantize pair is pre-activation: the
    activation is applied to it before it is compared with the pair's output.
    """
    if quant_node is None or float_node.op_type not in _FUSABLE:
        return None
    if quant_node.op_type == float_node.op_type:
        return None
    if float_node.op_type == "Relu":
        return lambda x: np.maximum(x, 0)
    from onnx import numpy_helper

    bounds = []
    for index in (1, 2):
        name = float_node.input[index] if len(float_node.input) > index else ""
        bounds.append(float(numpy_helper.to_array(constants[name])) if name in constants else None)
    attrs = {a.name: a.f for a in float_node.attribute}
    low = bounds[0] if bounds[0] is not None else attrs.get("min")
    high = bounds[1] if bounds[1] is not None else attrs.get("max")
    return lambda x: np.clip(x, low, high)
