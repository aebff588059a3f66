"""Malformed and lying gRPC requests get INVALID_ARGUMENT (or another 4xx code), never a crash.

Requests are written with tritonclient's own generated messages, or as raw bytes, and sent on
a plain grpc channel, so every field can lie.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pb2
from tritonclient.grpc import service_pb2

from edgeship.serve import grpc_messages
from edgeship.serve.grpc_server import GrpcServer

METHOD = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture(scope="module")
def grpc_server(server):
    with GrpcServer(server.app, server.settings, port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def channel(grpc_server):
    with grpc.insecure_channel(grpc_server.address) as ch:
        yield ch


def _call(channel, payload: bytes, method: str = METHOD):
    call = channel.unary_unary(method)  # bytes in, bytes out
    try:
        return grpc.StatusCode.OK, service_pb2.ModelInferResponse.FromString(
            call(payload, timeout=10)
        )
    except grpc.RpcError as exc:
        return exc.code(), exc.details()


def _request(server, model="tflite-fp32", shape=(1, 8, 8, 1), datatype="FP32", raw=None):
    name = server.app.registry.get(model).inputs[0].name
    req = service_pb2.ModelInferRequest(model_name=model)
    req.inputs.add(name=name, datatype=datatype, shape=list(shape))
    if raw is not None:
        req.raw_input_contents.append(raw)
    return req


def test_valid_raw_request_on_the_raw_channel(channel, server, engines, artifacts):
    x = artifacts.digits[:1]
    code, resp = _call(channel, _request(server, raw=x.tobytes()).SerializeToString())
    assert code == grpc.StatusCode.OK
    got = np.frombuffer(resp.raw_output_contents[0], "<f4").reshape(1, 10)
    np.testing.assert_array_equal(got, engines["tflite-fp32"].predict(x))


def test_typed_contents_are_accepted_and_checked(channel, server, engines, artifacts):
    x = artifacts.digits[:2]
    req = _request(server, shape=x.shape)
    req.inputs[0].contents.fp32_contents.extend(x.ravel().tolist())
    code, resp = _call(channel, req.SerializeToString())
    assert code == grpc.StatusCode.OK
    got = np.frombuffer(resp.raw_output_contents[0], "<f4").reshape(2, 10)
    np.testing.assert_array_equal(got, engines["tflite-fp32"].predict(x))
    short = _request(server, shape=x.shape)
    short.inputs[0].contents.fp32_contents.extend(x.ravel().tolist()[:-1])
    code, details = _call(channel, short.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 128 values, got 127 in contents.fp32_contents" in details
    wide = _request(server, model="tflite-int8", datatype="INT8")
    wide.inputs[0].contents.int_contents.extend([300] * 64)
    code, details = _call(channel, wide.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "[-128, 127] for INT8" in details


def _lies(server, x):
    raw = x.tobytes()
    two = _request(server, raw=raw)
    two.raw_input_contents.append(raw)
    both = _request(server, raw=raw)
    both.inputs[0].contents.fp32_contents.extend([0.0] * 64)
    twice = _request(server, raw=raw)
    twice.inputs.add(name=twice.inputs[0].name, datatype="FP32", shape=[1, 8, 8, 1])
    twice.raw_input_contents.append(raw)
    return {
        "raw bytes shorter than the shape": (
            _request(server, raw=raw[:-4]),
            "raw_input_contents[0] holds 252 bytes but shape [1, 8, 8, 1] of FP32 needs 256",
        ),
        "raw bytes longer than the shape": (
            _request(server, raw=raw + b"\0" * 4),
            "holds 260 bytes but shape [1, 8, 8, 1] of FP32 needs 256",
        ),
        "shape claims more rows than sent": (
            _request(server, shape=(4, 8, 8, 1), raw=raw),
            "holds 256 bytes but shape [4, 8, 8, 1] of FP32 needs 1024",
        ),
        "more raw entries than inputs": (two, "raw_input_contents holds 2 entries for 1 inputs"),
        "raw and typed contents": (both, "has both contents and raw_input_contents"),
        "input given twice": (twice, "is given twice"),
        "negative dimension": (
            _request(server, shape=(1, -8, 8, 1), raw=raw),
            "'shape' must be a list of non-negative integers",
        ),
        "huge shape": (
            _request(server, shape=(1 << 20, 1 << 20, 8, 1), raw=raw),
            "holds too many elements",
        ),
        "empty batch": (_request(server, shape=(0, 8, 8, 1), raw=b""), "empty dimension"),
        "wrong shape for the model": (
            _request(server, shape=(1, 8, 4, 2), raw=raw),
            "expects shape (N, 8, 8, 1), got (1, 8, 4, 2)",
        ),
        "unknown datatype": (_request(server, datatype="FP8", raw=raw), "datatype must be one of"),
        "BYTES input": (_request(server, datatype="BYTES", raw=raw), "datatype must be one of"),
        "wrong datatype for the model": (
            _request(server, datatype="INT32", raw=raw),
            "expects FP32 (float32) data, got INT32",
        ),
        "NaN": (
            _request(server, raw=np.full((1, 8, 8, 1), np.nan, np.float32).tobytes()),
            "contains NaN or infinity",
        ),
        "no inputs": (service_pb2.ModelInferRequest(model_name="tflite-fp32"), "at least one"),
        "unknown output": (
            _output(_request(server, raw=raw), "nope"),
            "Requested output 'nope' is not an output",
        ),
        "negative class count": (
            _output(_request(server, raw=raw), server.app.registry.get("tflite-fp32"), -3),
            "'classification' must be an integer from 0",
        ),
    }


def _output(req, model_or_name, class_count=None):
    name = model_or_name if isinstance(model_or_name, str) else model_or_name.outputs[0].name
    out = req.outputs.add(name=name)
    if class_count is not None:
        out.parameters["classification"].int64_param = class_count
    return req


def test_lying_requests_are_invalid_argument_with_a_clear_message(channel, server, artifacts):
    for what, (req, message) in _lies(server, artifacts.digits[:1]).items():
        code, details = _call(channel, req.SerializeToString())
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (what, code, details)
        assert message in details, (what, details)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff", b"\x0a\x80", b"\x2a\x05abc", bytes(range(256)), b"\x0f\x01" * 100],
    ids=["bad-tag", "truncated-length", "short-field", "noise", "bad-wire-type"],
)
def test_malformed_protobuf_is_invalid_argument(channel, payload):
    code, details = _call(channel, payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "is not a valid inference.ModelInferRequest message" in details


def test_unknown_model_method_and_oversized_message(channel, server, grpc_server):
    code, details = _call(
        channel, service_pb2.ModelInferRequest(model_name="nope").SerializeToString()
    )
    assert code == grpc.StatusCode.NOT_FOUND and "Unknown model 'nope'" in details
    code, _ = _call(channel, b"", "/inference.GRPCInferenceService/CudaSharedMemoryStatus")
    assert code == grpc.StatusCode.UNIMPLEMENTED
    big = _request(server, raw=b"\0" * (server.settings.max_body_bytes + 10))
    code, _ = _call(channel, big.SerializeToString())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    code, _ = _call(
        channel, _request(server, raw=np.zeros(64, np.float32).tobytes()).SerializeToString()
    )
    assert code == grpc.StatusCode.OK  # still serving


def test_descriptor_is_wire_compatible_with_tritons(server):
    """Every message and field edgeship defines has the number and type of Triton's own."""
    ours = descriptor_pb2.FileDescriptorProto()
    grpc_messages.POOL.FindFileByName("kserve_v2.proto").CopyToProto(ours)
    from google.protobuf import descriptor_pool

    theirs = descriptor_pool.Default()
    checked = 0
    for message in ours.message_type:
        stack = [(f"inference.{message.name}", message)]
        while stack:
            full, desc = stack.pop()
            other = theirs.FindMessageTypeByName(full)
            for field in desc.field:
                match = other.fields_by_name[field.name]
                assert (match.number, match.type) == (field.number, field.type), (full, field.name)
                checked += 1
            stack += [(f"{full}.{n.name}", n) for n in desc.nested_type]
    assert checked > 100
    service = ours.service[0]
    triton = theirs.FindServiceByName("inference.GRPCInferenceService")
    for method in service.method:
        assert triton.methods_by_name[method.name].input_type.full_name == method.input_type[1:]


def test_mutated_requests_never_get_an_internal_error(channel, server, artifacts):
    """Seeded fuzz: flip, cut and splice bytes of valid requests; zero 5xx-like codes."""
    rng = np.random.default_rng(12)
    seeds = [
        _request(server, raw=artifacts.digits[:2].tobytes(), shape=(2, 8, 8, 1)),
        _output(_request(server, model="onnx-fp32", raw=artifacts.digits[:1].tobytes()), "x", 3),
    ]
    allowed = {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
    }
    seen = set()
    for i in range(300):
        data = bytearray(seeds[i % 2].SerializeToString())
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, len(data)))
            if rng.random() < 0.5:
                data[pos] = int(rng.integers(0, 256))
            else:
                data = data[:pos] + data[pos + int(rng.integers(1, 8)) :]
        code, details = _call(channel, bytes(data))
        assert code in allowed, (i, code, details)
        seen.add(code)
    assert grpc.StatusCode.INVALID_ARGUMENT in seen


def test_committed_descriptor_matches_the_proto_file():
    """proto/kserve_v2.proto and its generated descriptor hold the same fields and enum values
    (regenerate with scripts/gen_kserve_descriptor.py after editing the .proto)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "proto" / "kserve_v2.proto").read_text()
    text = re.sub(r"//.*", "", text)
    in_proto = sorted(re.findall(r"(\w+)\s*=\s*(\d+)\s*;", text))
    ours = descriptor_pb2.FileDescriptorProto()
    grpc_messages.POOL.FindFileByName("kserve_v2.proto").CopyToProto(ours)
    found = [(v.name, str(v.number)) for e in ours.enum_type for v in e.value]
    stack = list(ours.message_type)
    while stack:
        message = stack.pop()
        if message.options.map_entry:
            continue
        found += [(f.name, str(f.number)) for f in message.field]
        found += [(v.name, str(v.number)) for e in message.enum_type for v in e.value]
        stack += list(message.nested_type)
    assert sorted(found) == in_proto
