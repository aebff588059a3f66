"""What a .tflite file says about its tensors that some runtimes do not report: the shape
signature (free dimensions as None) and the quantization (scale, zero point) of each tensor
of the main subgraph, read straight from the flatbuffer with the standard library."""

from __future__ import annotations

import struct

from edgeship.runtime.structure import _U32, _field, _table, _vector_of_tables

# Field indices in the TFLite schema (schema.fbs).
_SUBGRAPHS, _TENSORS = 2, 0
_T_SHAPE, _T_NAME, _T_QUANT, _T_SIGNATURE = 0, 3, 4, 7
_Q_SCALE, _Q_ZERO_POINT = 2, 3


class TensorInfo:
    """A tensor of the main subgraph: its shape (None for a free dimension) and, when it holds
    one scale, its quantization ``(scale, zero point)``."""

    __slots__ = ("quantization", "shape")

    def __init__(self, shape: tuple[int | None, ...], quantization: tuple[float, int] | None):
        self.shape = shape
        self.quantization = quantization


def tensor_infos(data: bytes) -> dict[str, TensorInfo]:
    """``{tensor name: TensorInfo}`` of subgraph 0 of the .tflite model ``data``."""
    buf = memoryview(data)
    model = _table(buf, _U32(buf, 0)[0], "the root table")
    found: dict[str, TensorInfo] = {}
    subgraphs_at = _field(buf, model, _SUBGRAPHS)
    if subgraphs_at is None:
        return found
    subgraph = _table(buf, _vector_of_tables(buf, subgraphs_at, "subgraphs")[0], "subgraph 0")
    tensors_at = _field(buf, subgraph, _TENSORS)
    for pos in _vector_of_tables(buf, tensors_at, "tensors") if tensors_at else ():
        tensor = _table(buf, pos, "a tensor")
        name_at = _field(buf, tensor, _T_NAME)
        if name_at is None:
            continue
        shape_at = _field(buf, tensor, _T_SIGNATURE) or _field(buf, tensor, _T_SHAPE)
        dims = _scalars(buf, shape_at, "<i", 4) if shape_at is not None else []
        shape = tuple(None if d < 0 else int(d) for d in dims)
        found[_string(buf, name_at)] = TensorInfo(shape, _quantization(buf, tensor))
    return found


def _quantization(buf: memoryview, tensor: tuple[int, int, int]) -> tuple[float, int] | None:
    quant_at = _field(buf, tensor, _T_QUANT)
    if quant_at is None:
        return None
    quant = _table(buf, quant_at + _U32(buf, quant_at)[0], "quantization parameters")
    scale_at, zp_at = _field(buf, quant, _Q_SCALE), _field(buf, quant, _Q_ZERO_POINT)
    scales = _scalars(buf, scale_at, "<f", 4) if scale_at is not None else []
    if len(scales) != 1:  # none, or per-channel (weights only, never an input or output)
        return None
    zero_points = _scalars(buf, zp_at, "<q", 8) if zp_at is not None else []
    return float(scales[0]), int(zero_points[0]) if zero_points else 0


def _scalars(buf: memoryview, field: int, fmt: str, size: int) -> list[float]:
    vec = field + _U32(buf, field)[0]
    count = _U32(buf, vec)[0]
    return [struct.unpack_from(fmt, buf, vec + 4 + size * i)[0] for i in range(count)]


def _string(buf: memoryview, field: int) -> str:
    at = field + _U32(buf, field)[0]
    return bytes(buf[at + 4 : at + 4 + _U32(buf, at)[0]]).decode("utf-8", "replace")
