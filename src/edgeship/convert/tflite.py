"""TFLite converters: one function, ``to_tflite(model, path, spec)``, for every TFLite variant.

Runs inside the converter worker (it imports TensorFlow). Keras 3 models go through the
SavedModel exported once per convert; models with recurrent layers go through a frozen
fixed-batch concrete function, the route that yields builtin ops only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.convert.mcu import MCU_VARIANTS
from edgeship.convert.routes import ROUTE_INT16X8_FLOAT_FALLBACK, ROUTE_INT16X8_KEEP_FLOAT
from edgeship.convert.source import SourceModel
from edgeship.convert.variants import ArtifactFormat, ConversionSpec, Precision
from edgeship.errors import ConfigError, ConversionError, EdgeshipError
from edgeship.fileio import atomic_write_bytes

RECURRENT_BATCH = 1
#: Microcontroller variants are built for one sample at a time: a fixed batch lets the
#: converter fold the shape arithmetic of a dynamic batch (SHAPE, STRIDED_SLICE, PACK before
#: a RESHAPE), on which TFLite Micro's host interpreter aborts for some models (MobileNet).
MCU_BATCH = 1


def to_tflite(model: SourceModel, path: str | Path, spec: ConversionSpec) -> dict[str, Any]:
    """Convert ``model`` to the TFLite variant ``spec.variant`` and write it to ``path``.

    Returns:
        The settings used (recorded in the manifest as the variant's ``params``).

    Raises:
        ConfigError: the spec is not a TFLite variant or lacks calibration data.
        ConversionError: the TFLite converter rejected the model.
    """
    if spec.variant.format is not ArtifactFormat.TFLITE:
        raise ConfigError(f"to_tflite cannot build {spec.variant.name}: not a TFLite variant.")
    tf = require("tensorflow", "convert", "convert to TFLite")
    converter, params = _make_converter(tf, model, spec)
    keyed = params["route"] != "frozen_concrete_function"
    params.update(_configure(tf, converter, spec, keyed))
    started = time.perf_counter()
    try:
        if spec.options.keep_float and spec.variant.needs_calibration:
            flatbuffer, params["keep_float"] = _convert_keep_float(tf, converter, spec)
        else:
            flatbuffer = converter.convert()
    except EdgeshipError:
        raise
    except Exception as exc:
        raise ConversionError(_explain(spec.variant.name, exc)) from exc
    if spec.route == ROUTE_INT16X8_KEEP_FLOAT:
        from edgeship.convert.tflite_float_ops import keep_failing_ops_float

        flatbuffer, kept = keep_failing_ops_float(tf, flatbuffer)
        if not kept:
            raise ConversionError(
                f"Route {spec.route} does not apply: the interpreter prepares and runs every "
                "operator of the 16x8 model."
            )
        params["kept_float"] = kept
    params["convert_seconds"] = round(time.perf_counter() - started, 3)
    if spec.route in (ROUTE_INT16X8_FLOAT_FALLBACK, ROUTE_INT16X8_KEEP_FLOAT):
        params["float_ops"] = float_ops(tf, flatbuffer)
    integer_inputs = [t.name for t in model.inputs if not t.dtype.startswith("float")]
    if integer_inputs and spec.variant.needs_calibration:
        params["integer_inputs"] = integer_inputs  # kept as given; the float part is quantized
    atomic_write_bytes(path, flatbuffer)
    if spec.options.debug_quant and _quantized(spec):
        params.update(_debug(tf, model, Path(path), spec, flatbuffer))
    return params


def _debug(
    tf: Any, model: SourceModel, path: Path, spec: ConversionSpec, artifact: bytes
) -> dict[str, Any]:
    """Per-layer error of the artifact just written against a float model of its route."""
    from edgeship.convert.debug import tflite_layer_errors

    csv_path, why_not = spec.debug_setup(path)
    if csv_path is None:
        return why_not
    try:
        batches = spec.calibration_batches()
        converter, _ = _make_converter(tf, model, spec)  # no optimizations: float32
        reference = converter.convert()
        # The interpreters take lists in input order (not signature dicts).
        worst = tflite_layer_errors(
            tf, artifact, reference, lambda: _samples(batches, False), csv_path
        )
    except Exception as exc:
        return {"quant_debug_error": f"{type(exc).__name__}: {exc}"}
    return {"quant_debug": csv_path.name, "worst_layers": worst, "float_bytes": len(reference)}


def _quantized(spec: ConversionSpec) -> bool:
    """Variants with integer tensors or weights (``--debug-quant`` measures them)."""
    return spec.variant.needs_calibration or spec.variant.precision is Precision.DYNAMIC


def _make_converter(
    tf: Any, model: SourceModel, spec: ConversionSpec
) -> tuple[Any, dict[str, Any]]:
    quantized = spec.variant.precision not in (Precision.FP32, Precision.FP16)
    if model.recurrent and model.keras_model is not None and quantized:
        unrolled = model.unrolled_saved_model_dir()
        if unrolled is not None:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(unrolled))
            return converter, {"route": "unrolled_saved_model"}
    if spec.variant.name in MCU_VARIANTS and model.keras_model is not None and not model.recurrent:
        concrete, fn = model.concrete_function(batch=MCU_BATCH, frozen=True)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
        return converter, {"route": "frozen_concrete_function", "batch": MCU_BATCH}
    if model.recurrent and model.keras_model is not None:
        concrete, fn = model.concrete_function(batch=RECURRENT_BATCH, frozen=True)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
        return converter, {"route": "frozen_concrete_function", "batch": RECURRENT_BATCH}
    saved = model.saved_model_dir()
    return tf.lite.TFLiteConverter.from_saved_model(str(saved)), {"route": "saved_model"}


def _configure(tf: Any, converter: Any, spec: ConversionSpec, keyed: bool) -> dict[str, Any]:
    precision = spec.variant.precision
    params: dict[str, Any] = {"precision": precision.value}
    if precision is Precision.FP32:
        return params
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision is Precision.FP16:
        converter.target_spec.supported_types = [tf.float16]
        return params
    if precision is Precision.DYNAMIC:
        if spec.options.tflite_legacy_dense:
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        params["per_channel_dense"] = not spec.options.tflite_legacy_dense
        return params
    batches = spec.calibration_batches()
    converter.representative_dataset = lambda: _samples(batches, keyed)
    params["calibration_samples"] = len(batches)
    if precision is Precision.INT16X8:
        ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if spec.route in (ROUTE_INT16X8_FLOAT_FALLBACK, ROUTE_INT16X8_KEEP_FLOAT):
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)  # float kernels for ops without 16x8
        converter.target_spec.supported_ops = ops
        params["activations"], params["weights"] = "int16", "int8"
        return params
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    params["activations"], params["weights"] = "int8", "int8"
    if not spec.options.tflite_int8_per_channel_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    params["per_channel_dense"] = spec.options.tflite_int8_per_channel_dense
    if precision is Precision.INT8:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        params["io"] = "int8"
    else:
        params["io"] = "float32"
    return params


def _convert_keep_float(tf: Any, converter: Any, spec: ConversionSpec) -> tuple[bytes, list[str]]:
    """Selective quantization: the named layers stay float (MLIR quantizer denylist).

    Returns the model and the names that are tensors of it (those kept in float).
    """
    if spec.variant.precision is Precision.INT16X8:
        raise ConfigError(
            "--keep-float cannot build tflite-int16x8: TFLite's selective quantization makes "
            "int8 activations only, so the file would not be the 16x8 model its name promises. "
            "Keep layers in float in tflite-int8 or tflite-int8-float-io instead."
        )
    from tensorflow.lite.python import convert as tfl_convert

    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    kept = _tensors_named(tf, calibrated, spec.options.keep_float)
    model = bytes(
        tfl_convert.mlir_quantize(
            calibrated,
            disable_per_channel=converter._experimental_disable_per_channel,
            denylisted_nodes=list(spec.options.keep_float),
            # the same dense-layer scheme as the variant without kept layers
            disable_per_channel_for_dense_layers=not spec.options.tflite_int8_per_channel_dense,
        )
    )
    if spec.variant.precision is Precision.INT8:
        # The quantizer's model keeps float I/O; tflite-int8 promises int8 input and output.
        from tensorflow.lite.python.util import modify_model_io_type

        model = bytes(modify_model_io_type(model, tf.int8, tf.int8))
        interpreter = tf.lite.Interpreter(model_content=model)
        io = interpreter.get_input_details() + interpreter.get_output_details()
        if any(d["dtype"] != np.int8 for d in io):
            raise ConversionError(
                f"Keeping {list(spec.options.keep_float)} in float leaves tflite-int8 with "
                "float input or output. Keep other layers in float, or build "
                "tflite-int8-float-io instead."
            )
    return model, kept


def _tensors_named(tf: Any, calibrated: bytes, names: tuple[str, ...]) -> list[str]:
    """The ``keep_float`` names that are tensors of this model (names of ONNX nodes are left
    to the ONNX variants). Raises when there are none: the converter would ignore them."""
    interpreter = tf.lite.Interpreter(model_content=calibrated)
    tensors = {d["name"] for d in interpreter.get_tensor_details()}
    kept = [n for n in names if n in tensors]
    if not kept:
        examples = sorted(t for t in tensors if "/" in t)[:3]
        raise ConfigError(
            f"--keep-float names {list(names)} are not tensors of the TFLite model. Expected "
            f"tensor names such as {examples}; --debug-quant lists the worst ones."
        )
    return kept


def _samples(batches: list[dict[str, Any]], keyed: bool) -> Iterator[Any]:
    """Representative samples: dicts by signature input name, or lists in input order."""
    for batch in batches:
        arrays = {k: _feed(np.asarray(v)) for k, v in batch.items()}
        yield arrays if keyed else list(arrays.values())


def _feed(value: np.ndarray) -> np.ndarray:
    """Float data as float32; integer and boolean inputs (token ids) keep their dtype."""
    return value if value.dtype.kind in "iub" else value.astype(np.float32)


def float_ops(tf: Any, flatbuffer: bytes) -> list[str]:
    """Operators of a quantized model that still compute in float (float32 inputs)."""
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    tensors = {d["index"]: d["dtype"] for d in interpreter.get_tensor_details()}
    found: set[str] = set()
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        if any(tensors.get(int(i)) == np.float32 for i in op["inputs"] if int(i) >= 0):
            found.add(str(op["op_name"]))
    return sorted(found)


def _explain(variant: str, exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    head = " ".join(line.strip() for line in text if line.strip())  # whole: the manifest keeps it
    hint = "Replace unsupported layers with built-in Keras layers"
    if "16x8" in head:
        hint = (
            "This operator has no 16x8 kernel; the int16x8+float-ops route keeps such "
            "operators in float"
        )
    elif "Empty min/max for tensor" in head:
        hint = (
            "TFLite's 16x8 quantizer needs a float range for every input and cannot take "
            "integer inputs (token ids); build tflite-int8 or tflite-int8-float-io, which keep "
            "integer inputs"
        )
    elif "Select TF" in head or "flex" in head.lower() or "not supported" in head:
        hint = (
            "The model uses operations TFLite builtins cannot express; replace those layers, "
            "or build a different variant"
        )
    return f"TFLite conversion of {variant} failed: {type(exc).__name__}: {head}. {hint}."
