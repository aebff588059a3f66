"""In-process structural checks of .tflite and .onnx files, before any native code reads them.

These walk the container format only (flatbuffer tables and vectors, protobuf fields) and
check that every offset and length stays inside the file. A truncated or scrambled file is
refused here with a clear :class:`~edgeship.errors.ModelLoadError`, without starting a child
process. A file that passes may still be wrong inside (a bad tensor shape, an op that
crashes the interpreter): that is what the validation in a child process is for.
"""

from __future__ import annotations

import struct
from pathlib import Path

from edgeship.errors import ModelLoadError

_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from

#: Model table fields (schema.fbs): operator_codes, subgraphs, buffers.
_OPERATOR_CODES, _SUBGRAPHS, _BUFFERS = 1, 2, 4
#: ModelProto fields (onnx.proto): ir_version (varint), graph (length-delimited).
_IR_VERSION, _GRAPH = 1, 7


class _Broken(Exception):
    """A structural fault; the message says where."""


def check_structure(path: Path, fmt: str, data: bytes) -> None:
    """Refuse ``data`` (the bytes of ``path``) when its container structure is broken.

    Args:
        path: the file, for messages.
        fmt: ``"tflite"`` or ``"onnx"``.
        data: the file's bytes.

    Raises:
        ModelLoadError: an offset or length points outside the file, or a required part of
            the model is missing.
    """
    try:
        if fmt == "tflite":
            _check_tflite(memoryview(data))
        else:
            _check_onnx(memoryview(data))
    except _Broken as exc:
        kind = "TFLite flatbuffer" if fmt == "tflite" else "ONNX protobuf"
        raise ModelLoadError(
            f"{path} could not be read as a {kind}: {exc}. Expected a complete model file; "
            "this one is truncated or corrupt. Convert or download it again."
        ) from None


# ----------------------------------------------------------------------- flatbuffers
def _table(buf: memoryview, pos: int, what: str) -> tuple[int, int, int]:
    """Return (table position, vtable position, vtable size) of the table at ``pos``."""
    size = len(buf)
    if pos < 0 or pos + 4 > size:
        raise _Broken(f"{what} at byte {pos} lies outside the {size}-byte file")
    vtable = pos - _I32(buf, pos)[0]
    if vtable < 0 or vtable + 4 > size:
        raise _Broken(f"the vtable of {what} (byte {vtable}) lies outside the file")
    vsize, tsize = _U16(buf, vtable)[0], _U16(buf, vtable + 2)[0]
    if vsize < 4 or vsize % 2 or vtable + vsize > size or pos + tsize > size:
        raise _Broken(f"the vtable of {what} is malformed (size {vsize}, table size {tsize})")
    return pos, vtable, vsize


def _field(buf: memoryview, table: tuple[int, int, int], index: int) -> int | None:
    """Absolute position of field ``index`` of ``table``, or None when it is absent."""
    pos, vtable, vsize = table
    slot = 4 + 2 * index
    if slot + 2 > vsize:
        return None
    offset = _U16(buf, vtable + slot)[0]
    return pos + offset if offset else None


def _vector_of_tables(buf: memoryview, field: int, what: str) -> list[int]:
    """Positions of the tables of the vector whose offset is stored at ``field``."""
    size = len(buf)
    if field + 4 > size:
        raise _Broken(f"the offset of {what} lies outside the file")
    vec = field + _U32(buf, field)[0]
    if vec + 4 > size:
        raise _Broken(f"{what} (byte {vec}) lies outside the {size}-byte file")
    count = _U32(buf, vec)[0]
    if vec + 4 + 4 * count > size:
        raise _Broken(f"{what} holds {count} entries, more than the file has room for")
    return [vec + 4 + 4 * i + _U32(buf, vec + 4 + 4 * i)[0] for i in range(count)]


def _check_tflite(buf: memoryview) -> None:
    if len(buf) < 12:
        raise _Broken(f"it has only {len(buf)} bytes")
    model = _table(buf, _U32(buf, 0)[0], "the root table")
    subgraphs_at = _field(buf, model, _SUBGRAPHS)
    if subgraphs_at is None:
        raise _Broken("the model has no subgraphs")
    subgraphs = _vector_of_tables(buf, subgraphs_at, "the subgraph list")
    if not subgraphs:
        raise _Broken("the model has no subgraphs")
    for i, pos in enumerate(subgraphs):
        _table(buf, pos, f"subgraph {i}")
    codes_at = _field(buf, model, _OPERATOR_CODES)
    if codes_at is not None:
        for i, pos in enumerate(_vector_of_tables(buf, codes_at, "the operator code list")):
            _table(buf, pos, f"operator code {i}")
    buffers_at = _field(buf, model, _BUFFERS)
    if buffers_at is not None:
        for i, pos in enumerate(_vector_of_tables(buf, buffers_at, "the buffer list")):
            _check_buffer(buf, _table(buf, pos, f"buffer {i}"), i)


def _check_buffer(buf: memoryview, table: tuple[int, int, int], index: int) -> None:
    """Buffers of large models point past the flatbuffer (``offset``/``size``, fields 1-2)."""
    offset_at, size_at = _field(buf, table, 1), _field(buf, table, 2)
    if offset_at is None or size_at is None:
        return
    if max(offset_at, size_at) + 8 > len(buf):
        raise _Broken(f"buffer {index}'s offset and size lie outside the file")
    offset, size = _U64(buf, offset_at)[0], _U64(buf, size_at)[0]
    if offset > 1 and offset + size > len(buf):
        raise _Broken(
            f"buffer {index} needs bytes {offset}-{offset + size}, past the end of the "
            f"{len(buf)}-byte file"
        )


# ----------------------------------------------------------------------- protobuf
def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end and shift < 70:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise _Broken(f"a varint at byte {pos} runs past its message")


def _fields(buf: memoryview, start: int, end: int, what: str) -> dict[int, tuple[int, int, int]]:
    """Walk one message; ``{field number: (wire type, start, end)}`` of the last occurrence."""
    found: dict[int, tuple[int, int, int]] = {}
    pos = start
    while pos < end:
        at = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Broken(f"{what} holds field number 0 at byte {at}")
        if wire == 0:
            value_start = pos
            _, pos = _varint(buf, pos, end)
        elif wire == 1 or wire == 5:
            value_start = pos
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length, value_start = _varint(buf, pos, end)
            pos = value_start + length
        else:
            raise _Broken(f"{what} holds wire type {wire} at byte {at}")
        if pos > end:
            raise _Broken(f"field {number} of {what} (byte {at}) runs past its end")
        found[number] = (wire, value_start, pos)
    return found


def _check_onnx(buf: memoryview) -> None:
    model = _fields(buf, 0, len(buf), "the model")
    ir = model.get(_IR_VERSION)
    if ir is not None and ir[0] != 0:
        raise _Broken("ir_version is not an integer")
    graph = model.get(_GRAPH)
    if graph is None:
        raise _Broken("the model has no graph")
    if graph[0] != 2:
        raise _Broken("the graph field is not a message")
    _fields(buf, graph[1], graph[2], "the graph")
