"""Repair what tf2onnx writes before any ONNX variant is derived from it.

tf2onnx emits a few operators that are not ONNX operators (e.g. ``Erfc`` for Keras's exact
GELU), and onnxruntime then rejects the whole graph. :func:`repair` rewrites them into valid
ONNX with a small table (:data:`REWRITES`, one entry per operator, each tested against the
TensorFlow op's numbers), then runs the ONNX checker and an onnxruntime load: a graph that
still fails is a :class:`~edgeship.errors.ConversionError` naming the operator.

``Gelu`` (ONNX opset 20+) is not emitted: tf2onnx writes opsets up to 18, where the exact
GELU is ``0.5 * x * erfc(-x / sqrt(2))`` and ``erfc`` becomes ``1 - Erf``.

:func:`fp16_blocked_nodes` lists the nodes the float16 pass must leave in float32: nodes
that touch integer or boolean tensors (token-id paths) and, for recurrent graphs, the
``Loop``/``Scan`` nodes whose bodies the pass would break.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import ConversionError

#: ONNX element types that the float16 pass may retype (FLOAT, FLOAT16, DOUBLE, BFLOAT16).
FLOAT_TYPES = frozenset({1, 10, 11, 16})
#: Control-flow operators whose bodies the float16 pass cannot retype consistently.
LOOP_OPS = frozenset({"Loop", "Scan"})

Rewrite = Callable[[Any, Any, Any], list[Any]]


def _erfc(onnx: Any, node: Any, graph: Any) -> list[Any]:
    """``Erfc(x)`` -> ``Sub(1, Erf(x))``."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    one = f"{node.name}__one"
    erf = f"{node.name}__erf"
    graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), one))
    return [
        helper.make_node("Erf", [node.input[0]], [erf], name=f"{node.name}__Erf"),
        helper.make_node("Sub", [one, erf], list(node.output), name=node.name),
    ]


def _tfl_gelu(onnx: Any, node: Any, graph: Any) -> list[Any]:
    """TFLite's fused ``GELU`` (tf2onnx's tflite reader leaves it as ``TFL_GELU``) ->
    ``0.5 * x * (1 + erf(x / sqrt(2)))``, or the tanh form when ``approximate`` is set."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    approximate = any(a.name == "approximate" and a.i for a in node.attribute)
    x, name = node.input[0], node.name

    def const(suffix: str, value: float) -> str:
        graph.initializer.append(
            numpy_helper.from_array(np.array(value, dtype=np.float32), f"{name}__{suffix}")
        )
        return f"{name}__{suffix}"

    def op(kind: str, inputs: list[str], out: str) -> Any:
        return helper.make_node(kind, inputs, [out], name=f"{name}__{out.rsplit('__', 1)[-1]}")

    if approximate:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        nodes = [
            op("Mul", [x, x], f"{name}__x2"),
            op("Mul", [f"{name}__x2", x], f"{name}__x3"),
            op("Mul", [f"{name}__x3", const("c", 0.044715)], f"{name}__cx3"),
            op("Add", [x, f"{name}__cx3"], f"{name}__inner"),
            op("Mul", [f"{name}__inner", const("k", float(np.sqrt(2 / np.pi)))], f"{name}__arg"),
            op("Tanh", [f"{name}__arg"], f"{name}__phi"),
        ]
    else:
        nodes = [
            op("Mul", [x, const("k", float(1 / np.sqrt(2)))], f"{name}__arg"),
            op("Erf", [f"{name}__arg"], f"{name}__phi"),
        ]
    return [
        *nodes,
        op("Add", [f"{name}__phi", const("one", 1.0)], f"{name}__onep"),
        op("Mul", [x, f"{name}__onep"], f"{name}__xp"),
        helper.make_node("Mul", [f"{name}__xp", const("half", 0.5)], list(node.output), name=name),
    ]


#: operator written by tf2onnx -> rewrite into valid ONNX (opset 13..18).
REWRITES: dict[str, Rewrite] = {"Erfc": _erfc, "TFL_GELU": _tfl_gelu}


def repair(proto: Any) -> tuple[Any, list[str]]:
    """Rewrite non-ONNX operators of ``proto`` in place and prove the result loads.

    Returns:
        The model and the repairs made, e.g. ``["Erfc -> 1 - Erf (2 nodes)"]``.

    Raises:
        ConversionError: the checker or onnxruntime rejects the repaired graph.
    """
    onnx = require("onnx", "convert", "repair ONNX models")
    counts = _rewrite(onnx, proto.graph)
    repairs = [f"{op} -> {_DESCRIBE[op]} ({n} node{'s' * (n != 1)})" for op, n in counts.items()]
    validate(proto)
    return proto, repairs


_DESCRIBE = {"Erfc": "1 - Erf", "TFL_GELU": "0.5 x (1 + Erf(x / sqrt 2)) or its tanh form"}


def _rewrite(onnx: Any, graph: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    nodes = list(graph.node)
    new_nodes: list[Any] = []
    for node in nodes:
        for attr in node.attribute:  # bodies of Loop/Scan/If
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                for op, n in _rewrite(onnx, sub).items():
                    counts[op] = counts.get(op, 0) + n
        rewrite = REWRITES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if rewrite is None:
            new_nodes.append(node)
            continue
        new_nodes.extend(rewrite(onnx, node, graph))
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    if counts:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return counts


def validate(proto: Any) -> None:
    """Run the ONNX checker and create an onnxruntime session from ``proto``.

    Raises:
        ConversionError: naming the operators ONNX does not define and what to do.
    """
    onnx = require("onnx", "convert", "check ONNX models")
    ort = require("onnxruntime", "onnx", "check ONNX models")
    unknown = sorted(_unknown_ops(onnx, proto))
    try:
        onnx.checker.check_model(proto)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        which = f" Operators that are not ONNX: {unknown}." if unknown else ""
        raise ConversionError(
            f"The ONNX graph from tf2onnx is invalid: {type(exc).__name__}: "
            f"{str(exc).strip()}.{which} Expected a graph onnxruntime can load. Replace "
            "the layer that produces it, or try another --opset."
        ) from exc


def _unknown_ops(onnx: Any, proto: Any) -> set[str]:
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 18)
    found: set[str] = set()
    for node in _all_nodes(proto.graph):
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            onnx.defs.get_schema(node.op_type, opset, "")
        except Exception:
            found.add(node.op_type)
    return found


def _all_nodes(graph: Any) -> list[Any]:
    out: list[Any] = []
    for node in graph.node:
        out.append(node)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                out.extend(_all_nodes(sub))
    return out


def _outer_names(node: Any) -> set[str]:
    """Tensors of the enclosing graph that the bodies of ``node`` read by name."""
    found: set[str] = set()
    for attr in node.attribute:
        for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            local = {i.name for i in (*body.input, *body.initializer)}
            local |= {o for n in body.node for o in n.output}
            found |= {t for n in _all_nodes(body) for t in n.input if t and t not in local}
    return found


def fp16_blocked_nodes(proto: Any, keep_loops: bool) -> tuple[list[str], list[str]]:
    """Nodes the float16 pass must leave in float32.

    Args:
        proto: the float32 model (shape inference runs on a copy).
        keep_loops: also block ``Loop``/``Scan`` nodes (their bodies stay float32).

    Returns:
        ``(integer_path_nodes, loop_nodes)``: top-level node names that read or write an
        integer or boolean tensor, and the blocked loop nodes with the producers of the
        outer tensors their bodies read.
    """
    onnx = require("onnx", "convert", "build onnx-fp16")
    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    types: dict[str, int] = {}
    for value in (*graph.input, *graph.output, *graph.value_info):
        types[value.name] = value.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    integer: list[str] = []
    loops: list[str] = []
    producer = {out: node.name for node in graph.node for out in node.output}
    for node in graph.node:
        if keep_loops and node.op_type in LOOP_OPS:
            loops.append(node.name)
            # the body reads outer tensors by name: their producers stay float32 too
            loops.extend(producer[t] for t in _outer_names(node) if t in producer)
            continue
        tensors = [t for t in (*node.input, *node.output) if t]
        if any(types.get(t, 0) not in FLOAT_TYPES | {0} for t in tensors):
            integer.append(node.name)
    return integer, loops


def relink_loop_bodies(proto: Any, loops: list[str]) -> int:
    """Point the float32 bodies of blocked loops back at float32 outer tensors.

    The float16 pass casts the outputs of blocked nodes to float16 under their original
    names; a body reads outer tensors by name, so it would get float16. Each such read is
    relinked to the float32 tensor before the cast. Returns how many reads were relinked.
    """
    casts = {
        n.output[0]: n.input[0]
        for n in proto.graph.node
        if n.op_type == "Cast" and any(a.name == "to" and a.i == 10 for a in n.attribute)
    }
    count = 0
    for node in proto.graph.node:
        if node.name not in loops or node.op_type not in LOOP_OPS:
            continue
        for attr in node.attribute:
            for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                for inner in _all_nodes(body):
                    for k, name in enumerate(inner.input):
                        if name in casts:
                            inner.input[k] = casts[name]
                            count += 1
    return count
