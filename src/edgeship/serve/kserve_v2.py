"""KServe v2 / Open Inference Protocol over HTTP, with the binary tensor data extension.

A request body is a JSON header, optionally followed by raw tensor bytes. When bytes follow,
the ``Inference-Header-Content-Length`` header gives the JSON part's length and each binary
input carries ``parameters.binary_data_size``; inputs appear in the binary part in the order
of the ``inputs`` list. Outputs are returned as binary data when the request asks
(``outputs[i].parameters.binary_data`` or ``parameters.binary_data_output``), which is what
``tritonclient.http`` does by default. The classification extension
(``outputs[i].parameters.classification = k``, tritonclient's ``class_count``) returns the
top k of each row as ``BYTES`` strings ``"score:index:label"``, labels from the model card.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgeship import __version__
from edgeship.serve.protocol import HttpError, Response, dump_json, parse_json
from edgeship.serve.registry import ModelRegistry, ServedModel
from edgeship.serve.tensor_meta import TensorMeta, config_parameters
from edgeship.serve.tensors import V2_TO_NUMPY, array_from_json, parse_shape, v2_datatype

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_TYPE = "application/octet-stream"
PLATFORMS = {"tflite": "tensorflow_lite", "onnx": "onnxruntime_onnx"}
Wanted = dict[str, tuple[bool, int]]  # output name -> (as binary, classification top-k or 0)


def server_metadata() -> dict[str, Any]:
    """Body of ``GET /v2``."""
    return {
        "name": "edgeship",
        "version": __version__,
        "extensions": [
            "binary_tensor_data",
            "classification",
            "statistics",
            "model_repository",
            "model_configuration",
        ],
    }


def _tensor_meta(meta: TensorMeta) -> dict[str, Any]:
    return {"name": meta.name, "datatype": v2_datatype(meta.dtype), "shape": list(meta.shape)}


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """Body of ``GET /v2/models/{name}``."""
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": PLATFORMS.get(model.platform, model.platform),
        "inputs": [_tensor_meta(m) for m in model.inputs],
        "outputs": [_tensor_meta(m) for m in model.outputs],
    }


def _config_tensor(meta: TensorMeta, batched: bool) -> dict[str, Any]:
    # Triton's ModelInput/ModelOutput: dims leave out the batch axis when max_batch_size > 0.
    entry = _tensor_meta(meta)
    entry["data_type"] = "TYPE_" + entry["datatype"]
    entry["dims"] = list(meta.shape[1:] if batched and meta.shape else meta.shape)
    return entry


def model_config(model: ServedModel) -> dict[str, Any]:
    """Body of ``GET /v2/models/{name}/config`` (the fields Triton clients read).

    ``max_batch_size`` is 0 unless the model batches dynamically; then the
    ``dynamic_batching`` block says how. ``device`` names the device or accelerator of an
    openvino / litert-compiled model (absent elsewhere). ``parameters`` holds the quantization
    the server applies to each quantized tensor and the artifact's own tensor names
    (:func:`edgeship.serve.tensor_meta.config_parameters`).
    """
    batching = model.batching
    config: dict[str, Any] = {
        "name": model.name,
        "platform": PLATFORMS.get(model.platform, model.platform),
        "backend": model.backend,
        "max_batch_size": batching.max_batch_size if batching else 0,
        "input": [_config_tensor(m, batching is not None) for m in model.inputs],
        "output": [_config_tensor(m, batching is not None) for m in model.outputs],
    }
    if model.device is not None:
        config["device"] = model.device
    if batching is not None:
        config["dynamic_batching"] = batching.as_triton()
    parameters = config_parameters(model.inputs, model.outputs)
    if parameters:
        config["parameters"] = parameters
    return config


def _header_length(value: str | None, body_len: int) -> int | None:
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        n = -1
    if not 0 < n <= body_len:
        raise HttpError(
            400,
            f"{HEADER_LENGTH} must be an integer from 1 to the body length ({body_len}). "
            f"Got: {value!r}",
        )
    return n


def _binary_size(params: Any, name: str) -> int | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise HttpError(400, f"Tensor '{name}': 'parameters' must be an object.")
    size = params.get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise HttpError(
            400, f"Tensor '{name}': binary_data_size must be a non-negative integer, got {size!r}."
        )
    return size


def _decode_input(item: Any, binary: memoryview, offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(item, dict):
        raise HttpError(400, f"Each entry of 'inputs' must be an object. Got: {item!r:.80}")
    name = item.get("name")
    if not isinstance(name, str):
        raise HttpError(400, "Each input needs a string 'name'.")
    datatype = item.get("datatype")
    if datatype not in V2_TO_NUMPY:
        raise HttpError(
            400,
            f"Input '{name}': datatype must be one of {sorted(V2_TO_NUMPY)}. Got: {datatype!r}",
        )
    dtype = V2_TO_NUMPY[datatype]
    shape = parse_shape(item.get("shape"), name)
    size = _binary_size(item.get("parameters"), name)
    if size is not None:
        if "data" in item:
            raise HttpError(400, f"Input '{name}' has both 'data' and binary_data_size.")
        expected = math.prod(shape) * dtype.itemsize
        if size != expected:
            raise HttpError(
                400,
                f"Input '{name}': binary_data_size is {size} bytes but shape {list(shape)} of "
                f"{datatype} needs {expected}.",
            )
        if offset + size > len(binary):
            raise HttpError(
                400,
                f"Input '{name}': binary data ends at byte {offset + size} but only "
                f"{len(binary)} bytes follow the JSON header.",
            )
        arr = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
        return name, arr, offset + size
    if "data" not in item:
        raise HttpError(400, f"Input '{name}' has neither 'data' nor binary_data_size.")
    arr = array_from_json(item["data"], dtype, name)
    if arr.size != math.prod(shape):
        raise HttpError(
            400,
            f"Input '{name}': shape {list(shape)} needs {math.prod(shape)} values, got {arr.size}.",
        )
    return name, arr.reshape(shape), offset


def parse_infer_request(
    model: ServedModel, body: bytes, header_length: str | None
) -> tuple[dict[str, np.ndarray], Wanted, str | None]:
    """Decode an infer request.

    Returns:
        ``(feeds by input name, {output name: (as binary, classification k)}, request id)``.
    """
    hlen = _header_length(header_length, len(body))
    head = body if hlen is None else body[:hlen]
    binary = memoryview(body)[hlen:] if hlen is not None else memoryview(b"")
    req = parse_json(head, "inference request header")
    if not isinstance(req, dict):
        raise HttpError(400, "The inference request must be a JSON object.")
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise HttpError(400, "The inference request needs a non-empty 'inputs' list.")
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for item in inputs:
        name, arr, offset = _decode_input(item, binary, offset)
        if name in feeds:
            raise HttpError(400, f"Input '{name}' is given twice.")
        feeds[name] = arr
    if offset != len(binary):
        raise HttpError(
            400,
            f"{len(binary)} bytes follow the JSON header but the inputs' binary_data_size "
            f"add up to {offset}.",
        )
    params = req.get("parameters") or {}
    if not isinstance(params, dict):
        raise HttpError(400, "'parameters' must be an object.")
    all_binary = params.get("binary_data_output") is True
    wanted = _requested_outputs(model, req.get("outputs"), all_binary)
    rid = req.get("id")
    return feeds, wanted, rid if isinstance(rid, str) else None


def _class_count(params: dict[str, Any], name: str) -> int:
    k = params.get("classification", 0)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 10000:
        raise HttpError(
            400, f"Output '{name}': 'classification' must be a positive integer. Got: {k!r:.40}"
        )
    return k


def _requested_outputs(model: ServedModel, outputs: Any, all_binary: bool) -> Wanted:
    names = [m.name for m in model.outputs]
    if outputs is None:
        return {n: (all_binary, 0) for n in names}
    if not isinstance(outputs, list):
        raise HttpError(400, "'outputs' must be a list of {name, parameters} objects.")
    wanted: Wanted = {}
    for out in outputs:
        name = out.get("name") if isinstance(out, dict) else None
        if name not in names:
            raise HttpError(
                400, f"Requested output {name!r} is not an output of '{model.name}': {names}."
            )
        params = out.get("parameters") or {}
        if not isinstance(params, dict):
            raise HttpError(400, f"Output '{name}': 'parameters' must be an object.")
        wanted[name] = (bool(params.get("binary_data", all_binary)), _class_count(params, name))
    return wanted


def _classification(model: ServedModel, scores: np.ndarray, k: int) -> np.ndarray:
    """Triton's classification extension: the top ``k`` of each row as ``score:index:label``."""
    rows = np.asarray(scores, dtype=np.float64).reshape(scores.shape[0] if scores.ndim else 1, -1)
    k = min(k, rows.shape[1])
    labels = model.card.labels if model.card and model.card.labels else None
    out = np.empty((rows.shape[0], k), dtype=object)
    for r, row in enumerate(rows):
        for j, i in enumerate(np.argsort(-row, kind="stable")[:k]):
            text = f"{row[i]:f}:{i}"
            if labels is not None and i < len(labels):
                text += f":{labels[i]}"
            out[r, j] = text.encode("utf-8")
    return out


def _serialize_bytes(arr: np.ndarray) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in arr.ravel())


def build_infer_response(
    model: ServedModel, results: dict[str, np.ndarray], wanted: Wanted, rid: str | None
) -> Response:
    """Encode outputs as JSON, with binary outputs appended after the JSON header."""
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, (as_binary, class_count) in wanted.items():
        arr = np.ascontiguousarray(results[name])
        if class_count:
            arr = _classification(model, arr, class_count)
        elif arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        entry: dict[str, Any] = {
            "name": name,
            "datatype": "BYTES" if class_count else v2_datatype(arr.dtype),
            "shape": list(arr.shape),
        }
        if as_binary:
            raw = _serialize_bytes(arr) if class_count else arr.tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif class_count:
            entry["data"] = [v.decode("utf-8") for v in arr.ravel()]
        else:
            entry["data"] = arr.ravel().tolist()
        outputs.append(entry)
    doc: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if rid is not None:
        doc["id"] = rid
    doc["outputs"] = outputs
    head = dump_json(doc)
    if not chunks:
        return Response(body=head)
    return Response(
        body=head + b"".join(chunks),
        headers={HEADER_LENGTH: str(len(head))},
        content_type=BINARY_TYPE,
    )


def model_from_registry(registry: ModelRegistry, name: str, version: str | None) -> ServedModel:
    """Find a model by name (and version when given) or raise a 404."""
    model = registry.get(name)
    if model is None:
        raise HttpError(404, f"Unknown model '{name:.100}'. Loaded models: {registry.names}.")
    if version is not None and version != model.version:
        raise HttpError(
            404, f"Model '{name}' has no version '{version:.20}'. Versions: [{model.version}]."
        )
    return model
