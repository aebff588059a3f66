"""The ``from-tflite`` ONNX route: tf2onnx reads the TFLite float32 model instead of the graph.

tf2onnx converts the SavedModel's graph after grappler inlined its functions; a function that
must be compiled with XLA (Keras's grouped ``Conv2D`` on TensorFlow, e.g. ConvNeXt's depthwise
convolutions) is not inlined and stays a ``StatefulPartitionedCall`` node, which ONNX does not
define. The TFLite converter lowers those calls, and tf2onnx reads ``.tflite`` files: this
route converts the model to TFLite float32 (the ``tflite-fp32`` converter settings) and that
file to ONNX, then gives the graph's inputs and outputs the Keras names.

Runs inside the converter worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeship._lazy import require
from edgeship.convert.source import SourceModel
from edgeship.errors import ConversionError


def tflite_source(model: SourceModel) -> tuple[Path, dict[str, Any]]:
    """The TFLite float32 file of ``model`` (built once per convert) and its converter params."""
    from edgeship.convert.tflite import to_tflite
    from edgeship.convert.variants import VARIANTS, ConversionSpec

    target = model.workdir / "onnx-source.fp32.tflite"
    key = "onnx-source-tflite"
    if key not in model._cache:
        params = to_tflite(model, target, ConversionSpec(VARIANTS["tflite-fp32"]))
        model._cache[key] = {"tflite_route": params.get("route")}
    return target, model._cache[key]


def proto_from_tflite(model: SourceModel, opset: int) -> tuple[Any, dict[str, Any]]:
    """The float32 ONNX model tf2onnx reads from the TFLite float32 file, Keras names on its
    inputs and outputs, and what to record about its source.

    Raises:
        ConversionError: the TFLite conversion or tf2onnx failed, or an input or output of
            the TFLite model cannot be matched to the Keras model's.
    """
    tf2onnx = require("tf2onnx", "convert", "convert to ONNX")
    tf = require("tensorflow", "convert", "read TFLite models")
    path, source = tflite_source(model)
    names = _keras_names(tf, model, path)
    proto, _ = tf2onnx.convert.from_tflite(str(path), opset=opset)
    _rename(proto, names)
    return proto, {"source": "tflite-fp32", **source}


def _keras_names(tf: Any, model: SourceModel, path: Path) -> dict[str, str]:
    """TFLite tensor name -> Keras input or output name, through the serving signature."""
    interpreter = tf.lite.Interpreter(model_path=str(path))
    signatures = interpreter._get_full_signature_list()
    tensors = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    if len(signatures) != 1:
        # a frozen concrete function (recurrent models) has no signature: inputs in order
        inputs = [d["name"] for d in interpreter.get_input_details()]
        outputs = [d["name"] for d in interpreter.get_output_details()]
        return dict(zip(inputs, model.input_names, strict=False)) | dict(
            zip(outputs, model.output_names, strict=False)
        )
    signature = next(iter(signatures.values()))
    by_signature = dict(zip(model.signature_outputs, model.output_names, strict=False))
    names = {tensors[i]: name for name, i in signature["inputs"].items()}
    outputs = signature["outputs"]
    ordered = list(model.signature_outputs) or sorted(outputs)
    missing = [n for n in ordered if n not in outputs]
    if missing:
        raise ConversionError(
            f"The TFLite model's signature has outputs {sorted(outputs)}; expected "
            f"{ordered}. The from-tflite route cannot name the ONNX outputs; use the default "
            "route's variants, or another variant."
        )
    for index, sig_name in enumerate(ordered):
        keras = by_signature.get(sig_name) or model.output_names[index]
        names[tensors[outputs[sig_name]]] = keras
    return names


def _rename(proto: Any, names: dict[str, str]) -> None:
    """Rename graph inputs and outputs (and every use of them) to their Keras names."""
    graph = proto.graph
    mapping = {v.name: names[v.name] for v in [*graph.input, *graph.output] if v.name in names}
    for value in [*graph.input, *graph.output]:
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)
