"""KServe v2 gRPC tensors <-> checked numpy arrays.

Inputs come either all as ``raw_input_contents`` (little-endian bytes, one entry per input, in
the order of ``inputs``: what tritonclient sends) or each in its typed ``contents`` field. Every
size, dtype and count is checked before a byte reaches the model: a lie about a size is an
``HttpError`` 400, which the service answers as ``INVALID_ARGUMENT``. Outputs always go back as
``raw_output_contents``, as Triton does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgeship.serve import grpc_messages as pb
from edgeship.serve.kserve_v2 import _classification, _serialize_bytes
from edgeship.serve.protocol import HttpError
from edgeship.serve.registry import ServedModel
from edgeship.serve.tensors import V2_TO_NUMPY, parse_shape, v2_datatype

# The typed field of InferTensorContents that carries each datatype (FP16 travels raw only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}
_MAX_CLASSES = 10000


def _from_contents(tensor: Any, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    name, datatype = tensor.name, tensor.datatype
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise HttpError(400, f"Input '{name}': {datatype} data must come in raw_input_contents.")
    values = getattr(tensor.contents, field)
    if len(values) != math.prod(shape):
        raise HttpError(
            400,
            f"Input '{name}': shape {list(shape)} needs {math.prod(shape)} values, got "
            f"{len(values)} in contents.{field}.",
        )
    arr = np.asarray(values)
    if dtype.kind in "iu" and arr.size:
        info = np.iinfo(dtype)
        if int(arr.min()) < info.min or int(arr.max()) > info.max:
            raise HttpError(
                400, f"Input '{name}': values must lie in [{info.min}, {info.max}] for {datatype}."
            )
    return arr.astype(dtype).reshape(shape)


def decode_inputs(request: Any) -> dict[str, np.ndarray]:
    """The arrays of a ``ModelInferRequest`` by input name (not yet checked against a model).

    Raises:
        HttpError: 400 for an unknown datatype, a bad shape, a raw entry whose size disagrees
            with its shape, a raw entry count that differs from the input count, or an input
            given twice.
    """
    inputs, raw = request.inputs, request.raw_input_contents
    if not inputs:
        raise HttpError(400, "The inference request needs at least one input.")
    if raw and len(raw) != len(inputs):
        raise HttpError(
            400,
            f"raw_input_contents holds {len(raw)} entries for {len(inputs)} inputs. Send every "
            "input raw (one entry each, in order) or every input in 'contents'.",
        )
    feeds: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(inputs):
        name, datatype = tensor.name, tensor.datatype
        dtype = V2_TO_NUMPY.get(datatype)
        if dtype is None:
            raise HttpError(
                400,
                f"Input '{name:.100}': datatype must be one of {sorted(V2_TO_NUMPY)}. "
                f"Got: {datatype[:40]!r}",
            )
        shape = parse_shape(list(tensor.shape), name)
        if raw:
            if tensor.HasField("contents"):
                raise HttpError(400, f"Input '{name}' has both contents and raw_input_contents.")
            data, expected = raw[i], math.prod(shape) * dtype.itemsize
            if len(data) != expected:
                raise HttpError(
                    400,
                    f"Input '{name}': raw_input_contents[{i}] holds {len(data)} bytes but shape "
                    f"{list(shape)} of {datatype} needs {expected}.",
                )
            arr = np.frombuffer(data, dtype=dtype).reshape(shape)
        else:
            arr = _from_contents(tensor, dtype, shape)
        if name in feeds:
            raise HttpError(400, f"Input '{name}' is given twice.")
        feeds[name] = arr
    return feeds


def _class_count(tensor: Any) -> int:
    param = tensor.parameters.get("classification")
    if param is None:
        return 0
    which = param.WhichOneof("parameter_choice")
    k = getattr(param, which) if which in ("int64_param", "uint64_param") else -1
    if not 0 <= k <= _MAX_CLASSES:
        raise HttpError(
            400,
            f"Output '{tensor.name}': 'classification' must be an integer from 0 to "
            f"{_MAX_CLASSES}.",
        )
    return int(k)


def requested_outputs(model: ServedModel, request: Any) -> dict[str, int]:
    """``{output name: classification top-k or 0}`` asked for (all outputs when none)."""
    names = [m.name for m in model.outputs]
    if not request.outputs:
        return dict.fromkeys(names, 0)
    wanted: dict[str, int] = {}
    for tensor in request.outputs:
        if tensor.name not in names:
            raise HttpError(
                400,
                f"Requested output {tensor.name[:100]!r} is not an output of '{model.name}': "
                f"{names}.",
            )
        wanted[tensor.name] = _class_count(tensor)
    return wanted


def encode_response(
    model: ServedModel, results: dict[str, np.ndarray], wanted: dict[str, int], rid: str
) -> Any:
    """A ``ModelInferResponse`` with every output in ``raw_output_contents``."""
    response = pb.ModelInferResponse(model_name=model.name, model_version=model.version, id=rid)
    for name, class_count in wanted.items():
        arr = np.ascontiguousarray(results[name])
        if class_count:
            labels = _classification(model, arr, class_count)
            datatype, data = "BYTES", _serialize_bytes(labels)
            shape = labels.shape
        else:
            if arr.dtype.byteorder == ">":
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            datatype, data, shape = v2_datatype(arr.dtype), arr.tobytes(), arr.shape
        response.outputs.add(name=name, datatype=datatype, shape=list(shape))
        response.raw_output_contents.append(data)
    return response
