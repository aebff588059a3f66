"""What the server says about one tensor: the model's name, shape, the dtype a client sends or
receives, and the quantization the server applies between that and the artifact.

A quantized integer input is advertised as ``float32`` (the server quantizes float input with
the tensor's scale and zero point; the stored integer type is still accepted as it is), and a
quantized output as the ``float32`` the server returns (it dequantizes). The parameters are in
the KServe v2 model configuration's ``parameters`` (:func:`config_parameters`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TensorMeta:
    """Name, shape (-1 for a free dimension) and dtype of one served tensor.

    Attributes:
        name: the model's name of the tensor (the same on every variant).
        dtype: what a client sends (inputs) or receives (outputs).
        quantization: ``{"dtype", "scale", "zero_point"}`` of the artifact's integer tensor
            when the server converts between it and ``dtype``; None otherwise.
        artifact_name: the artifact file's own name of the tensor, when it differs.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: dict[str, Any] | None = None
    artifact_name: str | None = None


def _dims(shape: Any) -> tuple[int, ...]:
    """Shape with -1 for free dimensions; the batch axis is always free (the runtime loops
    over a fixed-batch model)."""
    dims = tuple(-1 if d is None or int(d) < 0 else int(d) for d in shape)
    return (-1, *dims[1:]) if dims else dims


def tensor_meta(spec: Any, artifact: Any = None) -> TensorMeta:
    """The served form of a runtime ``TensorSpec`` (``artifact``: the same tensor as the
    artifact names it, or None)."""
    dtype, quantization = str(spec.dtype), None
    if spec.quantization is not None and dtype in ("int8", "uint8", "int16"):
        scale, zero_point = spec.quantization
        quantization = {"dtype": dtype, "scale": float(scale), "zero_point": int(zero_point)}
        dtype = "float32"
    own = getattr(artifact, "name", None)
    return TensorMeta(
        spec.name, _dims(spec.shape), dtype, quantization, own if own != spec.name else None
    )


def tensor_metas(engine: Any) -> tuple[tuple[TensorMeta, ...], tuple[TensorMeta, ...]]:
    """The served inputs and outputs of an engine (its artifact names where it has them)."""
    found = []
    for kind in ("inputs", "outputs"):
        specs = tuple(getattr(engine, kind))
        own: Sequence[Any] = tuple(getattr(engine, f"artifact_{kind}", ()) or ())
        pairs = zip(specs, own if len(own) == len(specs) else [None] * len(specs), strict=True)
        found.append(tuple(tensor_meta(s, a) for s, a in pairs))
    return found[0], found[1]


def config_parameters(
    inputs: Sequence[TensorMeta], outputs: Sequence[TensorMeta]
) -> dict[str, dict[str, str]]:
    """Triton model-config ``parameters``: ``<tensor>.quantization`` per quantized tensor
    (JSON: dtype, scale, zero_point, and what the server does) and ``artifact_tensor_names``
    (JSON: the artifact's name -> the model's, where they differ)."""
    params: dict[str, dict[str, str]] = {}
    for role, metas in (("input", inputs), ("output", outputs)):
        for m in metas:
            if m.quantization is None:
                continue
            does = (
                f"quantizes {m.dtype} input to {m.quantization['dtype']}"
                if role == "input"
                else f"dequantizes {m.quantization['dtype']} output to {m.dtype}"
            )
            value = {**m.quantization, "server": does}
            params[f"{m.name}.quantization"] = {"string_value": json.dumps(value)}
    renamed = {
        key: {m.artifact_name: m.name for m in metas if m.artifact_name}
        for key, metas in (("inputs", inputs), ("outputs", outputs))
    }
    if any(renamed.values()):
        params["artifact_tensor_names"] = {"string_value": json.dumps(renamed)}
    return params
