"""Inspect a ``.tflite`` or ``.onnx`` artifact without TensorFlow.

TFLite files are read as flatbuffers (schema from ``ai_edge_litert``, else TensorFlow):
tensors with quantization, operators with counts and versions, Edge TPU readiness (every
operator 8-bit and in the Edge TPU list, static shapes). GPU-delegate compatibility comes from
the TFLite model analyzer (``ai_edge_litert`` ships it, else ``tf.lite``), run in a child
process because it parses the file natively. ONNX files report opset, inputs, outputs and ops.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from edgeship.errors import ModelLoadError
from edgeship.fileio import not_a_file

#: Operators the Edge TPU compiler maps to the TPU (Coral "supported operations" list).
EDGETPU_OPS = frozenset(
    {
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
        "DEPTH_TO_SPACE", "DEQUANTIZE", "EXPAND_DIMS", "FULLY_CONNECTED", "GATHER",
        "HARD_SWISH", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
        "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU",
        "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQRT", "SQUARED_DIFFERENCE",
        "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
        "UNPACK",
    }
)  # fmt: skip
_EIGHT_BIT = {"int8", "uint8"}
#: Integer tensor types wider than the Edge TPU's 8 bits (the activations of 16x8 models).
_WIDE_INTEGERS = frozenset({"int16", "uint16"})
_SCHEMAS = ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated")


def inspect_artifact(path: str | os.PathLike[str], gpu_check: bool = True) -> dict[str, Any]:
    """Describe ``path`` (.tflite or .onnx) as a JSON-ready dict.

    Raises:
        ModelLoadError: missing file, unknown format or unreadable model.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p} {not_a_file(p)}. Expected a .tflite or .onnx file.")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"{p} is empty. Expected a .tflite or .onnx model; re-export it.")
    head = p.read_bytes()[:8]
    if p.suffix == ".tflite" or head[4:8] == b"TFL3":
        info = _tflite(p)
        if gpu_check:
            info["gpu_delegate"] = gpu_compatibility(p)
    elif p.suffix == ".onnx":
        info = _onnx(p)
    else:
        raise ModelLoadError(
            f"Cannot inspect {p.name}: expected a .tflite or .onnx file. Got suffix {p.suffix!r}."
        )
    _add_model_names(p, info)
    info = {"path": str(p), "size_bytes": p.stat().st_size, **info}
    return info


def _add_model_names(p: Path, info: dict[str, Any]) -> None:
    """Give each input and output its ``model_name``: what clients of the runtime and the
    server call it (:mod:`edgeship.runtime.names`); ``name`` stays the artifact's own."""
    from edgeship.runtime.names import model_names

    ins, outs = info.get("inputs") or [], info.get("outputs") or []
    names = model_names(p, [t["name"] for t in ins], [t["name"] for t in outs])
    for tensors, found in zip((ins, outs), names, strict=True):
        for t, name in zip(tensors, found, strict=True):
            t["model_name"] = name


def _schema() -> Any:
    for name in _SCHEMAS:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ModelLoadError(
        "Reading .tflite files needs the flatbuffer schema from ai-edge-litert or tensorflow. "
        "Install it with: pip install 'edgeship[litert]'"
    )


def _names(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _tflite(p: Path) -> dict[str, Any]:
    schema = _schema()
    data = p.read_bytes()
    try:
        if not schema.Model.ModelBufferHasIdentifier(data, 0):
            raise ModelLoadError(f"{p} is not a TFLite flatbuffer (identifier 'TFL3' missing).")
        model = schema.Model.GetRootAsModel(data, 0)
        return _describe_tflite(schema, model)
    except ModelLoadError:
        raise
    except Exception as exc:  # corrupt offsets surface as struct/index errors
        raise ModelLoadError(
            f"{p} could not be read as a TFLite model ({type(exc).__name__}: {exc}). The file "
            "is corrupt or truncated; convert the model again."
        ) from exc


def _describe_tflite(schema: Any, model: Any) -> dict[str, Any]:
    op_names, type_names = _names(schema.BuiltinOperator), _names(schema.TensorType)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        custom = code.CustomCode()
        name = custom.decode() if custom else op_names.get(builtin, f"BUILTIN_{builtin}")
        codes.append((name, int(code.Version()), bool(custom)))
    ops: Counter[tuple[str, int]] = Counter()
    reasons: list[str] = []
    graph0: dict[str, Any] = {}
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        tensors = [_tensor(graph.Tensors(i), type_names) for i in range(graph.TensorsLength())]
        if g == 0:
            graph0 = {
                "inputs": [tensors[i] for i in graph.InputsAsNumpy().tolist()],
                "outputs": [tensors[i] for i in graph.OutputsAsNumpy().tolist()],
            }
        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            name, version, custom = codes[op.OpcodeIndex()]
            ops[(name, version)] += 1
            if custom or name not in EDGETPU_OPS:
                reasons.append(f"operator {name} is not supported by the Edge TPU")
            used = [tensors[i] for i in op.InputsAsNumpy().tolist() if i >= 0]
            used += [tensors[i] for i in op.OutputsAsNumpy().tolist() if i >= 0]
            floats = sorted({t["dtype"] for t in used if t["dtype"] in ("float32", "float16")})
            if floats and name not in ("QUANTIZE", "DEQUANTIZE"):
                reasons.append(f"operator {name} runs in {'/'.join(floats)}, not 8-bit")
            wide = sorted({t["dtype"] for t in used if t["dtype"] in _WIDE_INTEGERS})
            if wide:
                reasons.append(
                    f"operator {name} runs on {'/'.join(wide)} tensors, not 8-bit (the Edge TPU "
                    "runs 8-bit integer operators only: convert tflite-int8)"
                )
        dynamic = [t["name"] for t in tensors if any(d is None for d in t["shape"])]
        if dynamic:
            reasons.append(
                f"dynamic shapes ({len(dynamic)} tensors, e.g. {dynamic[0]!r}); the Edge TPU "
                "compiler needs fixed shapes: convert with --batch-size 1"
            )
    return {
        "format": "tflite",
        "schema_version": int(model.Version()),
        **graph0,
        "subgraphs": int(model.SubgraphsLength()),
        "ops": [
            {"op": name, "version": version, "count": count}
            for (name, version), count in sorted(ops.items())
        ],
        "edgetpu": {"ready": not reasons, "reasons": list(dict.fromkeys(reasons))},
    }


def _tensor(t: Any, type_names: dict[int, str]) -> dict[str, Any]:
    sig = t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength() else t.ShapeAsNumpy()
    shape = [
        None if int(d) < 0 else int(d) for d in (sig.tolist() if hasattr(sig, "tolist") else [])
    ]
    q = t.Quantization()
    scale = zero_point = None
    if q is not None and q.ScaleLength():
        scales, zps = q.ScaleAsNumpy().tolist(), q.ZeroPointAsNumpy().tolist()
        scale = scales[0] if len(scales) == 1 else scales
        zero_point = (zps[0] if len(zps) == 1 else zps) if zps else 0
    return {
        "name": (t.Name() or b"").decode(errors="replace"),
        "shape": shape,
        "dtype": type_names.get(int(t.Type()), str(t.Type())).lower(),
        "scale": scale,
        "zero_point": zero_point,
    }


_ANALYZER = """
import sys
try:
    from ai_edge_litert import _pywrap_analyzer_wrapper as w
except ImportError:
    from tensorflow.lite.python.analyzer_wrapper import _pywrap_analyzer_wrapper as w
print(w.ModelAnalyzer(sys.argv[1], True, True))
"""


def gpu_compatibility(path: Path, timeout: float = 120.0) -> dict[str, Any]:
    """GPU-delegate compatibility from the TFLite model analyzer, run in a child process.

    Returns ``{"compatible": bool | None, "warnings": [...], "analyzer": str | None}``;
    ``compatible`` is None when no analyzer is installed or it failed.
    """
    from edgeship._lazy import is_available

    if not (is_available("ai_edge_litert") or is_available("tensorflow")):
        return {"compatible": None, "warnings": [], "analyzer": None}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _ANALYZER, str(path)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"compatible": None, "warnings": ["analyzer timed out"], "analyzer": "tflite"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"compatible": None, "warnings": [f"analyzer failed: {tail}"], "analyzer": "tflite"}
    warnings = [
        line.strip() for line in proc.stdout.splitlines() if "GPU COMPATIBILITY WARNING" in line
    ]
    compatible = "looks compatible with GPU delegate" in proc.stdout and not warnings
    return {"compatible": compatible, "warnings": warnings, "analyzer": "tflite"}


def _onnx(p: Path) -> dict[str, Any]:
    try:
        onnx = importlib.import_module("onnx")
    except ImportError:
        return _onnx_via_runtime(p)
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:
        raise ModelLoadError(
            f"{p} could not be read as an ONNX model ({type(exc).__name__}: {exc})."
        ) from exc
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    ops = Counter(n.op_type if not n.domain else f"{n.domain}.{n.op_type}" for n in graph.node)
    return {
        "format": "onnx",
        "opset": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [_onnx_value(v) for v in graph.input if v.name not in initializers],
        "outputs": [_onnx_value(v) for v in graph.output],
        "ops": [{"op": op, "count": count} for op, count in sorted(ops.items())],
    }


_ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64",
               9: "bool", 10: "float16", 11: "float64"}  # fmt: skip


def _onnx_value(v: Any) -> dict[str, Any]:
    tensor = v.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return {
        "name": v.name,
        "shape": dims,
        "dtype": _ONNX_TYPES.get(tensor.elem_type, str(tensor.elem_type)),
    }


def _onnx_via_runtime(p: Path) -> dict[str, Any]:
    from edgeship.runtime import load

    with load(p, backend="onnxruntime") as engine:
        return {
            "format": "onnx",
            "opset": None,
            "inputs": [_spec(t) for t in engine.inputs],
            "outputs": [_spec(t) for t in engine.outputs],
            "ops": None,
            "note": "install 'onnx' to list opset and operators",
        }


def _spec(t: Any) -> dict[str, Any]:
    scale, zp = t.quantization if t.quantization else (None, None)
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.dtype,
        "scale": scale,
        "zero_point": zp,
    }
