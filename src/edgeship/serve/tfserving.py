"""TensorFlow Serving REST API: ``:predict``, model status and metadata.

Row format (``instances``): a list with one entry per sample; an entry is the sample itself
for a single-input model, or an object ``{input name: value}``. Columnar format (``inputs``):
the batched tensor for a single-input model, or an object ``{input name: batched tensor}``.
JSON integers sent to an int8/uint8 input are taken as raw quantized values; other numbers
are float32 and quantized by the runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship.serve.protocol import HttpError
from edgeship.serve.registry import ServedModel, TensorMeta
from edgeship.serve.tensors import QUANTIZED, array_from_json

SIGNATURE = "serving_default"
TF_DTYPES = {
    "float32": "DT_FLOAT",
    "float16": "DT_HALF",
    "float64": "DT_DOUBLE",
    "int8": "DT_INT8",
    "uint8": "DT_UINT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "bool": "DT_BOOL",
}


def model_status(model: ServedModel) -> dict[str, Any]:
    """Body of ``GET /v1/models/{name}``."""
    return {
        "model_version_status": [
            {
                "version": model.version,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def _tensor_info(meta: TensorMeta) -> dict[str, Any]:
    return {
        "dtype": TF_DTYPES.get(meta.dtype, "DT_INVALID"),
        "tensor_shape": {
            "dim": [{"size": str(d), "name": ""} for d in meta.shape],
            "unknown_rank": False,
        },
        "name": meta.name,
    }


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """Body of ``GET /v1/models/{name}/metadata`` (a ``serving_default`` signature)."""
    signature = {
        "inputs": {model.alias_of(m.name): _tensor_info(m) for m in model.inputs},
        "outputs": {m.name: _tensor_info(m) for m in model.outputs},
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": model.version},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


def _to_array(meta: TensorMeta, data: Any) -> np.ndarray:
    if meta.dtype in QUANTIZED or meta.quantization is not None:
        try:
            kind = np.asarray(data).dtype.kind
        except (ValueError, TypeError, OverflowError, RecursionError):
            kind = "O"
        stored = meta.quantization["dtype"] if meta.quantization else meta.dtype
        dtype = np.dtype(stored if kind in "iu" else "float32")
    else:
        dtype = np.dtype(meta.dtype)
    return array_from_json(data, dtype, meta.name)


def _rows(model: ServedModel, instances: Any) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise HttpError(400, "'instances' must be a non-empty list with one entry per sample.")
    names = [m.name for m in model.inputs]
    if all(isinstance(row, dict) for row in instances):
        columns: dict[str, list[Any]] = {n: [] for n in names}
        for i, row in enumerate(instances):
            keyed = {model.canonical(k): v for k, v in row.items()}
            if sorted(keyed) != sorted(names) or len(keyed) != len(row):
                expected = sorted(model.alias_of(n) for n in names)
                raise HttpError(400, f"Instance {i} has inputs {sorted(row)}; expected {expected}.")
            for n in names:
                columns[n].append(keyed[n])
    elif len(names) == 1:
        columns = {names[0]: instances}
    else:
        expected = [model.alias_of(n) for n in names]
        raise HttpError(
            400, f"Model '{model.name}' has inputs {expected}: each instance must be an object."
        )
    return {m.name: _to_array(m, columns[m.name]) for m in model.inputs}


def _columns(model: ServedModel, inputs: Any) -> dict[str, np.ndarray]:
    names = [m.name for m in model.inputs]
    if isinstance(inputs, dict):
        keyed = {model.canonical(k): v for k, v in inputs.items()}
        if sorted(keyed) != sorted(names) or len(keyed) != len(inputs):
            expected = sorted(model.alias_of(n) for n in names)
            raise HttpError(400, f"'inputs' has {sorted(inputs)}; expected {expected}.")
        return {m.name: _to_array(m, keyed[m.name]) for m in model.inputs}
    if len(names) != 1:
        raise HttpError(
            400, f"Model '{model.name}' has inputs {names}: 'inputs' must be an object."
        )
    return {names[0]: _to_array(model.inputs[0], inputs)}


def parse_predict(model: ServedModel, body: Any) -> tuple[dict[str, np.ndarray], bool]:
    """Decode a ``:predict`` body.

    Returns:
        ``(feeds by input name, row format?)``.
    """
    if not isinstance(body, dict):
        raise HttpError(400, "The predict request must be a JSON object.")
    signature = body.get("signature_name", SIGNATURE)
    if signature not in (SIGNATURE, ""):
        raise HttpError(400, f"Unknown signature_name {signature!r:.80}. Expected '{SIGNATURE}'.")
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise HttpError(400, f"Unknown fields {unknown!r:.200} in the predict request.")
    if ("instances" in body) == ("inputs" in body):
        raise HttpError(
            400, "The predict request needs exactly one of 'instances' (rows) or 'inputs'."
        )
    if "instances" in body:
        return _rows(model, body["instances"]), True
    return _columns(model, body["inputs"]), False


def build_predict(model: ServedModel, results: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """Encode outputs as ``{"predictions": ...}`` (rows) or ``{"outputs": ...}`` (columns)."""
    names = [m.name for m in model.outputs]
    if len(names) == 1:
        value = np.asarray(results[names[0]]).tolist()
        return {"predictions": value} if rows else {"outputs": value}
    if rows:
        n = int(np.asarray(results[names[0]]).shape[0])
        return {
            "predictions": [
                {k: np.asarray(results[k])[i].tolist() for k in names} for i in range(n)
            ]
        }
    return {"outputs": {k: np.asarray(results[k]).tolist() for k in names}}
