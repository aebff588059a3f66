"""ONNX converters: one function, ``to_onnx(model, path, spec)``, for every ONNX variant.

Runs inside the converter worker. ``onnx-fp32`` comes from tf2onnx on the SavedModel exported
once per convert (``tf2onnx.convert.from_keras`` is broken on Keras 3); inputs and outputs are
renamed to the Keras names. The other ONNX variants derive from that float model:
``onnx-fp16`` with onnxconverter-common (float I/O kept), ``onnx-dynamic`` with ONNX Runtime's
``quantize_dynamic`` and ``onnx-int8`` with ``quant_pre_process`` + ``quantize_static`` (QDQ).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.convert.onnx_repair import (
    fp16_blocked_nodes,
    relink_loop_bodies,
    repair,
    validate,
)
from edgeship.convert.routes import ROUTE_FP16_LOOPS_FLOAT, ROUTE_FROM_TFLITE
from edgeship.convert.source import SourceModel
from edgeship.convert.variants import (
    ActivationType,
    ArtifactFormat,
    CalibrationMethod,
    ConversionSpec,
    Precision,
)
from edgeship.errors import ConfigError, ConversionError
from edgeship.fileio import atomic_path


def to_onnx(model: SourceModel, path: str | Path, spec: ConversionSpec) -> dict[str, Any]:
    """Convert ``model`` to the ONNX variant ``spec.variant`` and write it to ``path``.

    Returns:
        The settings used (recorded in the manifest as the variant's ``params``).

    Raises:
        ConfigError: the spec is not an ONNX variant or lacks calibration data.
        ConversionError: tf2onnx or the ONNX Runtime quantizer failed.
    """
    if spec.variant.format is not ArtifactFormat.ONNX:
        raise ConfigError(f"to_onnx cannot build {spec.variant.name}: not an ONNX variant.")
    onnx = require("onnx", "convert", "write ONNX models")
    started = time.perf_counter()
    precision = spec.variant.precision
    params: dict[str, Any] = {"precision": precision.value, "opset": spec.options.opset}
    source = _source_key(spec)
    try:
        if precision is Precision.FP32:
            proto = _fp32_proto(model, source)
            with atomic_path(path) as tmp:
                onnx.save(proto, str(tmp))
        elif precision is Precision.FP16:
            params.update(_fp16(model, path, spec))
        elif precision is Precision.DYNAMIC:
            params.update(_dynamic(model, path, spec))
        elif precision is Precision.INT8:
            params.update(_static(model, path, spec))
        else:
            raise ConfigError(f"No ONNX converter for precision {precision.value}.")
    except (ConfigError, ConversionError):
        raise
    except Exception as exc:
        raise ConversionError(
            f"ONNX conversion of {spec.variant.name} failed: {type(exc).__name__}: "
            f"{str(exc).strip()}. Try another --opset, or replace unsupported layers."
        ) from exc
    params["convert_seconds"] = round(time.perf_counter() - started, 3)
    repairs = model._cache.get(f"onnx-repairs:{source}")
    if repairs:
        params["repairs"] = repairs
    params.update(model._cache.get(f"onnx-source:{source}", {}))
    return params


def _source_key(spec: ConversionSpec) -> str:
    """Names the float ONNX model a variant derives from: its opset and where it comes from."""
    origin = "tflite" if spec.route == ROUTE_FROM_TFLITE else "saved_model"
    return f"{origin}:{spec.options.opset}"


def _fp16(model: SourceModel, path: str | Path, spec: ConversionSpec) -> dict[str, Any]:
    """float16 with float32 I/O; integer/boolean paths (and, on the fallback route, loops)
    stay float32."""
    onnx = require("onnx", "convert", "write ONNX models")
    f16 = require("onnxconverter_common.float16", "convert", "build onnx-fp16")
    keep_loops = spec.route == ROUTE_FP16_LOOPS_FLOAT
    source = _fp32_proto(model, _source_key(spec))
    integer, loops = fp16_blocked_nodes(source, keep_loops)
    if keep_loops and not loops:
        raise ConversionError(
            f"Route {spec.route} does not apply: the graph has no Loop/Scan node to keep in "
            "float32."
        )
    copy = onnx.ModelProto()
    copy.CopyFrom(source)
    proto = f16.convert_float_to_float16(
        copy,
        keep_io_types=True,
        op_block_list=list(f16.DEFAULT_OP_BLOCK_LIST),
        node_block_list=sorted(set(integer + loops)),
    )
    relink_loop_bodies(proto, loops)
    validate(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    params: dict[str, Any] = {"keep_io_types": True}
    if spec.options.debug_quant:
        params.update(_debug(model, _fp32_file(model, _source_key(spec)), Path(path), spec))
    if integer:
        params["integer_path_nodes_float32"] = len(integer)
    if loops:
        params["float_ops"] = sorted({_op_of(source, n) for n in loops})
        params["float_nodes"] = sorted(set(loops))
    return params


def _op_of(proto: Any, name: str) -> str:
    return next((n.op_type for n in proto.graph.node if n.name == name), name)


def _fp32_proto(model: SourceModel, source: str) -> Any:
    """The float32 ONNX model, built (or failed) once per source key (:func:`_source_key`):
    every ONNX variant of one convert derives from it."""
    key = f"onnx-fp32:{source}"
    if key not in model._cache:
        origin, opset = source.split(":")
        try:
            if origin == "tflite":
                from edgeship.convert.onnx_tflite import proto_from_tflite

                proto, model._cache[f"onnx-source:{source}"] = proto_from_tflite(model, int(opset))
            else:
                proto = _from_saved_model(model, int(opset))
            model._cache[key], model._cache[f"onnx-repairs:{source}"] = repair(proto)
        except ConversionError as exc:
            model._cache[key] = exc  # the next variant fails alike, without converting again
    cached = model._cache[key]
    if isinstance(cached, ConversionError):
        raise ConversionError(str(cached))
    return cached


def _from_saved_model(model: SourceModel, opset: int) -> Any:
    tf2onnx = require("tf2onnx", "convert", "convert to ONNX")
    from tf2onnx import tf_loader

    graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
        str(model.saved_model_dir()), None, None, return_tensors_to_rename=True
    )
    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        input_names=inputs,
        output_names=outputs,
        opset=opset,
        tensors_to_rename=_keras_names(model, renames),
    )
    return proto


def _keras_names(model: SourceModel, renames: dict[str, str]) -> dict[str, str]:
    """Map the signature's ``output_N`` names to the model's output names."""
    count = len(model.output_names)
    width = len(str(max(count - 1, 0)))
    signature_outputs = list(model.signature_outputs) or [
        f"output_{i:0{width}d}" for i in range(count)
    ]
    mapping = dict(zip(signature_outputs, model.output_names, strict=False))
    return {tensor: mapping.get(name, name) for tensor, name in renames.items()}


def _fp32_file(model: SourceModel, source: str) -> Path:
    target = model.workdir / f"onnx-fp32.{source.replace(':', '.opset')}.onnx"
    if not target.is_file():
        onnx = require("onnx", "convert", "write ONNX models")
        with atomic_path(target) as tmp:
            onnx.save(_fp32_proto(model, source), str(tmp))
    return target


def _dynamic(model: SourceModel, path: str | Path, spec: ConversionSpec) -> dict[str, Any]:
    q = require("onnxruntime.quantization", "convert", "quantize ONNX models")
    source = _fp32_file(model, _source_key(spec))
    with atomic_path(path) as tmp:
        q.quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=q.QuantType.QUInt8,
            per_channel=False,
            nodes_to_exclude=list(spec.options.keep_float),
        )
    extra = _debug(model, source, Path(path), spec) if spec.options.debug_quant else {}
    return extra | {"weights": "uint8", "activations": "dynamic uint8"}


class _Reader:
    """ONNX Runtime calibration reader over one-sample batches."""

    def __init__(self, batches: list[dict[str, Any]]) -> None:
        self._batches = batches
        self._index = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._index >= len(self._batches):
            return None
        batch = self._batches[self._index]
        self._index += 1
        return {k: _feed(np.asarray(v)) for k, v in batch.items()}

    def rewind(self) -> None:
        self._index = 0

    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        batch = self.get_next()
        if batch is None:
            raise StopIteration
        return batch


def _feed(value: np.ndarray) -> np.ndarray:
    """Float data as float32; integer and boolean inputs (token ids) keep their dtype."""
    return value if value.dtype.kind in "iub" else value.astype(np.float32)


_METHODS = {
    CalibrationMethod.MINMAX: "MinMax",
    CalibrationMethod.ENTROPY: "Entropy",
    CalibrationMethod.PERCENTILE: "Percentile",
}


def _static(model: SourceModel, path: str | Path, spec: ConversionSpec) -> dict[str, Any]:
    q = require("onnxruntime.quantization", "convert", "quantize ONNX models")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    opts = spec.options
    batches = spec.calibration_batches()
    source = _fp32_file(model, _source_key(spec))
    prepared = source.with_suffix(".pre.onnx")
    if not prepared.is_file():
        with atomic_path(prepared) as tmp:
            quant_pre_process(str(source), str(tmp), skip_symbolic_shape=True)
    keep = _nodes(prepared, opts.keep_float) if opts.keep_float else []
    activation = (
        q.QuantType.QUInt8 if opts.activation_type is ActivationType.UINT8 else q.QuantType.QInt8
    )
    with atomic_path(path) as tmp:
        q.quantize_static(
            str(prepared),
            str(tmp),
            _Reader(batches),
            quant_format=q.QuantFormat.QDQ,
            per_channel=opts.per_channel,
            activation_type=activation,
            weight_type=q.QuantType.QInt8,
            calibrate_method=getattr(q.CalibrationMethod, _METHODS[opts.calibration_method]),
            nodes_to_exclude=keep,
        )
    extra = _debug(model, prepared, Path(path), spec) if opts.debug_quant else {}
    return extra | {
        "format": "QDQ",
        "activations": opts.activation_type.value,
        "weights": "int8",
        "per_channel": opts.per_channel,
        "calibration_method": opts.calibration_method.value,
        "calibration_samples": len(batches),
        "keep_float": keep,
    }


def _debug(model: SourceModel, fp32: Path, path: Path, spec: ConversionSpec) -> dict[str, Any]:
    """Per-layer error of the quantized artifact against its float source (``--debug-quant``)."""
    from edgeship.convert.onnx_debug import onnx_layer_errors

    csv_path, why_not = spec.debug_setup(path)
    if csv_path is None:
        return why_not
    try:
        batches = spec.calibration_batches()
        worst = onnx_layer_errors(fp32, path, _Reader(batches), model.workdir, csv_path)
    except Exception as exc:
        return {"quant_debug_error": f"{type(exc).__name__}: {exc}"}
    return {
        "quant_debug": csv_path.name,
        "worst_layers": worst,
        "float_bytes": fp32.stat().st_size,
    }


def _nodes(model_path: Path, names: tuple[str, ...]) -> list[str]:
    """The ``keep_float`` names that are nodes of this ONNX model (TFLite names are skipped).

    Raises:
        ConfigError: none of the names is a node of the model.
    """
    onnx = require("onnx", "convert", "read ONNX models")
    nodes = [n.name for n in onnx.load(str(model_path)).graph.node]
    keep = [n for n in names if n in set(nodes)]
    if not keep:
        unknown = list(names)
        raise ConfigError(
            f"--keep-float names {unknown} are not nodes of the ONNX model. Expected node "
            f"names such as {nodes[:3]}; --debug-quant lists the worst ones."
        )
    return keep
