"""Keep named operators of a 16x8 TFLite model in float, after the converter built it.

TFLite's 16x8 quantizer has no denylist (selective quantization exists only for int8
activations), and LiteRT refuses some operators it writes: a 16x8 ``DEPTHWISE_CONV_2D`` whose
bias would overflow (``no_integer_overflow_from_quantization``), or ``SQUARED_DIFFERENCE`` /
``RSQRT`` of LayerNorm, which have no int16 kernel. :func:`keep_failing_ops_float` runs the
model on an interpreter; when one operator fails to prepare or run, that operator is rewritten
to compute in float: its quantized activation inputs pass through ``DEQUANTIZE``, its
quantized constants (weights, bias) are stored dequantized, and its outputs pass through
``QUANTIZE`` back to the 16-bit tensors the next operators read. Then it runs again, until the
model runs or a limit is reached.

Runs inside the converter worker.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from edgeship.errors import ConversionError

#: Most operators rewritten before giving up (each costs an interpreter start).
MAX_REWRITES = 64
_FAILED = re.compile(r"Node number (\d+) \(([A-Z][A-Z0-9_]+)\) failed to (?:prepare|invoke)")
_DEQUANTIZE, _QUANTIZE = 6, 114
_FLOAT32 = 0
_INTEGER = {9: np.int8, 7: np.int16, 2: np.int32, 4: np.int64, 3: np.uint8}


def keep_failing_ops_float(tf: Any, flatbuffer: bytes) -> tuple[bytes, list[dict[str, Any]]]:
    """Rewrite, one at a time, the operators the interpreter cannot prepare or run.

    Returns:
        The model that runs, and one ``{"op", "node", "output"}`` per operator kept in float.

    Raises:
        ConversionError: a failure that names no operator of the main graph, an operator that
            still fails in float, or more than :data:`MAX_REWRITES` rewrites.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    kept: list[dict[str, Any]] = []
    while True:
        failure = _run_error(tf, flatbuffer)
        if failure is None:
            return flatbuffer, kept
        match = _FAILED.search(failure)
        if match is None:
            raise ConversionError(
                f"The 16x8 model fails on the interpreter without naming an operator: {failure}"
            )
        node, op = int(match.group(1)), match.group(2)
        if any(k["node"] == node and k["op"] == op for k in kept) or len(kept) >= MAX_REWRITES:
            raise ConversionError(
                f"Operator {op} (node {node}) still fails after {len(kept)} operator(s) were "
                f"kept in float: {failure}"
            )
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
        output = _to_float(model, node, op)
        kept.append({"op": op, "node": node, "output": output})
        flatbuffer = bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _run_error(tf: Any, flatbuffer: bytes) -> str | None:
    """Prepare and run the model once on zeros; the interpreter's error text, or None."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - litert is in the convert extra
        Interpreter = tf.lite.Interpreter
    try:
        interpreter = Interpreter(model_content=flatbuffer)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _to_float(model: Any, node: int, op: str) -> str:
    """Make operator ``node`` of the main graph compute in float; its first output's name."""
    from tensorflow.lite.python import schema_py_generated as schema

    graph = model.subgraphs[0]
    if node >= len(graph.operators):
        raise ConversionError(f"Operator {op} (node {node}) is not in the main graph.")
    operator = graph.operators[node]
    before: list[Any] = []
    after: list[Any] = []
    inputs = list(operator.inputs)
    for i, index in enumerate(inputs):
        tensor = graph.tensors[index] if index >= 0 else None
        if tensor is None or not _quantized(tensor):
            continue
        constant = _constant(model, tensor)
        if constant is not None:
            inputs[i] = _add_tensor(schema, model, graph, tensor, _dequantized(tensor, constant))
            if _unused(model, graph, operator, index, tensor.buffer):
                model.buffers[tensor.buffer].data = None  # the integer copy is read no more
            continue
        inputs[i] = _add_tensor(schema, model, graph, tensor)
        before.append(_operator(schema, model, _DEQUANTIZE, [index], [inputs[i]]))
    outputs = list(operator.outputs)
    for i, index in enumerate(outputs):
        tensor = graph.tensors[index]
        if _quantized(tensor):
            outputs[i] = _add_tensor(schema, model, graph, tensor)
            after.append(_operator(schema, model, _QUANTIZE, [outputs[i]], [index]))
    operator.inputs, operator.outputs = inputs, outputs
    graph.operators[node : node + 1] = [*before, operator, *after]
    name = graph.tensors[operator.outputs[0]].name
    return name.decode() if isinstance(name, bytes) else str(name)


def _unused(model: Any, graph: Any, operator: Any, index: int, buffer: int) -> bool:
    """True when no other operator reads tensor ``index`` and no other tensor shares its
    buffer."""
    if any(index in list(other.inputs) for other in graph.operators if other is not operator):
        return False
    sharing = sum(t.buffer == buffer for g in model.subgraphs for t in g.tensors)
    return sharing == 1


def _quantized(tensor: Any) -> bool:
    q = tensor.quantization
    return tensor.type in _INTEGER and q is not None and q.scale is not None and len(q.scale) > 0


def _constant(model: Any, tensor: Any) -> np.ndarray | None:
    data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
    if data is None or len(data) == 0:
        return None
    values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), _INTEGER[tensor.type])
    return values.reshape([int(d) for d in tensor.shape])


def _dequantized(tensor: Any, values: np.ndarray) -> np.ndarray:
    q = tensor.quantization
    scale = np.asarray(q.scale, np.float64)
    zero = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], np.float64)
    if scale.size > 1:
        shape = [1] * values.ndim
        shape[q.quantizedDimension] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((values.astype(np.float64) - zero) * scale).astype(np.float32)


def _add_tensor(
    schema: Any, model: Any, graph: Any, like: Any, values: np.ndarray | None = None
) -> int:
    """Append a float32 tensor shaped like ``like`` (a constant when ``values`` is given)."""
    tensor = schema.TensorT()
    tensor.shape = like.shape
    tensor.shapeSignature = like.shapeSignature
    tensor.type = _FLOAT32
    name = like.name.decode() if isinstance(like.name, bytes) else str(like.name)
    tensor.name = f"{name}/float"
    buffer = schema.BufferT()
    if values is not None:
        buffer.data = np.frombuffer(values.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _operator(schema: Any, model: Any, code: int, inputs: list[int], outputs: list[int]) -> Any:
    """A DEQUANTIZE or QUANTIZE operator (reusing the model's opcode entry)."""
    index = next(
        (
            i
            for i, c in enumerate(model.operatorCodes)
            if max(c.builtinCode, c.deprecatedBuiltinCode) == code
        ),
        None,
    )
    if index is None:
        entry = schema.OperatorCodeT()
        entry.builtinCode, entry.deprecatedBuiltinCode, entry.version = code, code, 4
        model.operatorCodes.append(entry)
        index = len(model.operatorCodes) - 1
    operator = schema.OperatorT()
    operator.opcodeIndex = index
    operator.inputs, operator.outputs = inputs, outputs
    return operator
