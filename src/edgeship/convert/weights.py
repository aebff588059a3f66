"""Did a quantized variant quantize anything, and did it get smaller than its float source?

For each reduced-precision variant (every one but ``*-fp32``) the manifest records
``quantization``::

    {"weights_quantized": share of weight values stored below 32 bits (0..1),
     "weight_values": weight values counted, "float_source": "tflite-fp32" | null,
     "size_ratio": size / the float source's size | null, "flags": [...]}

A variant that quantized no weight, or that is not smaller than its float source, is
flagged: the flags go to the variant and, as warnings, to the manifest; the pipeline does not
recommend a flagged variant. The variant's ``status`` stays ``ok``: it runs and passed parity.

Weights are the constant tensors of the artifact: TFLite tensors with a data buffer, ONNX
initializers. Integer tensors without quantization parameters (shapes, indices) and 32/64-bit
integers (biases of integer kernels, which follow their weights) are left out of the count.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeship.convert.variants import VARIANTS
from edgeship.manifest import STATUS_OK

_REDUCED = {"int8", "uint8", "int16", "float16", "int4", "uint4"}
_FLOAT = {"float32", "float64"}
_ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 10: "float16", 11: "float64",
               21: "uint4", 22: "int4"}  # fmt: skip


def weight_counts(path: Path) -> tuple[int, int]:
    """``(values stored below 32 bits, all weight values)`` of a .tflite or .onnx file."""
    if path.suffix == ".onnx":
        return _onnx_counts(path)
    return _tflite_counts(path)


def _tflite_counts(path: Path) -> tuple[int, int]:
    from edgeship.convert.artifact_info import _names, _schema

    schema = _schema()
    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    types = {k: v.lower() for k, v in _names(schema.TensorType).items()}
    reduced = total = 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            if model.Buffers(t.Buffer()).DataLength() == 0:
                continue  # not a constant
            dtype = types.get(int(t.Type()), "")
            q = t.Quantization()
            quantized = q is not None and q.ScaleLength() > 0
            if dtype in _FLOAT or (dtype in _REDUCED and (quantized or dtype == "float16")):
                count = 1
                for d in t.ShapeAsNumpy().tolist() if t.ShapeLength() else []:
                    count *= int(d)
                total += count
                reduced += count if dtype in _REDUCED else 0
    return reduced, total


def _onnx_counts(path: Path) -> tuple[int, int]:
    onnx = importlib.import_module("onnx")
    graph = onnx.load(str(path), load_external_data=False).graph
    reduced = total = 0
    for init in graph.initializer:
        dtype = _ONNX_TYPES.get(int(init.data_type))
        if dtype is None:
            continue
        count = 1
        for d in init.dims:
            count *= int(d)
        if count <= 1:
            continue  # scales and zero points
        total += count
        reduced += count if dtype in _REDUCED else 0
    return reduced, total


def float_source(name: str) -> str:
    """The float variant of the same format as a reduced-precision one: ``tflite-int8`` and
    ``tflm-int8`` -> ``tflite-fp32``, ``onnx-int8`` -> ``onnx-fp32``."""
    spec = VARIANTS.get(name)
    return f"{spec.format.value if spec else name.split('-')[0]}-fp32"


def annotate(variants: Sequence[dict[str, Any]], folder: Path) -> list[str]:
    """Add ``quantization`` (and ``flags`` where one applies) to each ok reduced-precision
    variant of ``variants`` (files in ``folder``); return the manifest warnings."""
    by_name = {v["name"]: v for v in variants}
    warnings: list[str] = []
    for record in variants:
        name = record["name"]
        if name.endswith("-fp32") or record.get("status") != STATUS_OK:
            continue
        path = folder / record["file"]
        try:
            reduced, total = weight_counts(path)
        except Exception:  # an unreadable file: parity already ran it, so say nothing here
            continue
        source: dict[str, Any] = by_name.get(float_source(name)) or {}
        ratio = None
        if source.get("status") == STATUS_OK and source.get("size_bytes"):
            ratio = round(record["size_bytes"] / source["size_bytes"], 4)
        flags = []
        if total and reduced == 0:
            flags.append(
                f"quantized nothing: all {total} weight values stayed float32 (the quantizer "
                "skips small tensors and some operators); use a float variant instead"
            )
        if ratio is not None and ratio >= 1.0:
            flags.append(
                f"not smaller than {source['name']} ({record['size_bytes']:,} vs "
                f"{source['size_bytes']:,} bytes, ratio {ratio:.2f})"
            )
        record["quantization"] = {
            "weights_quantized": round(reduced / total, 4) if total else None,
            "weight_values": total,
            "float_source": source.get("name"),
            "size_ratio": ratio,
        }
        if flags:
            record["flags"] = flags
            warnings += [f"{name}: {f}" for f in flags]
    return warnings
