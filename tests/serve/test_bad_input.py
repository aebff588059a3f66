"""Every kind of bad request gets a 4xx with an error body; the next good request works."""

from __future__ import annotations

import gzip
import json
import socket

import numpy as np
import pytest


def _j(value) -> bytes:
    return json.dumps(value).encode()


def _v2(name, shape, datatype="FP32", data=None, **extra):
    item = {"name": name, "shape": shape, "datatype": datatype}
    if data is not None:
        item["data"] = data
    item.update(extra)
    return item


@pytest.fixture(scope="module")
def names(server):
    fp32 = server.app.registry.get("tflite-fp32")
    int8 = server.app.registry.get("tflite-int8")
    multi = server.app.registry.get("multi")
    return {
        "fp32": fp32.inputs[0].name,
        "fp32_out": fp32.outputs[0].name,
        "int8": int8.inputs[0].name,
        "multi": [m.name for m in multi.inputs],
    }


def _cases(n):
    fp, i8 = n["fp32"], n["int8"]
    ones = [1.0] * 64
    v2 = "/v2/models/tflite-fp32/infer"
    v2i8 = "/v2/models/tflite-int8/infer"
    v1 = "/v1/models/tflite-fp32:predict"
    head = _j({"inputs": [_v2(fp, [1, 8, 8, 1], parameters={"binary_data_size": 256})]})
    good_bin = b"\0" * 256
    hl = "Inference-Header-Content-Length"
    beyond = np.full((1, 8, 8, 1), -1e300).tolist()
    return {
        "malformed json": ("POST", v2, b"{not json", {}, 400, "not valid JSON"),
        "bad utf-8": ("POST", v2, b"\xff\xfe", {}, 400, "not valid JSON"),
        "json list": ("POST", v2, b"[]", {}, 400, "JSON object"),
        "no inputs": ("POST", v2, _j({"outputs": []}), {}, 400, "non-empty 'inputs'"),
        "input not object": ("POST", v2, _j({"inputs": [3]}), {}, 400, "must be an object"),
        "unknown model": ("POST", "/v2/models/../../etc/passwd/infer", b"{}", {}, 404, "No route"),
        "unknown model name": ("POST", "/v2/models/nope/infer", b"{}", {}, 404, "Unknown model"),
        "wrong datatype": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP64", ones)]}),
            {},
            400,
            "expects FP32",
        ),
        "int8 sent to float": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "INT8", [1] * 64)]}),
            {},
            400,
            "expects FP32",
        ),
        "unknown datatype": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FLOAT", ones)]}),
            {},
            400,
            "datatype must be one of",
        ),
        "BYTES datatype": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1], "BYTES", ["abc"])]}),
            {},
            400,
            "datatype must be one of",
        ),
        "wrong shape": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8], "FP32", ones)]}),
            {},
            400,
            "expects shape (N, 8, 8, 1)",
        ),
        "count mismatch": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [2, 8, 8, 1], "FP32", ones)]}),
            {},
            400,
            "needs 128 values, got 64",
        ),
        "empty batch": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [0, 8, 8, 1], "FP32", [])]}),
            {},
            400,
            "",
        ),
        "negative dim": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [-1, 8, 8, 1], "FP32", ones)]}),
            {},
            400,
            "non-negative integers",
        ),
        "huge shape": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [2**30, 8, 8, 1], "FP32", ones)]}),
            {},
            400,
            "too many elements",
        ),
        "huge dimension": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [2**40, 8, 8, 1], "FP32", ones)]}),
            {},
            400,
            f"Input '{fp}': shape [1099511627776, 8, 8, 1] holds too many elements "
            f"(at most {1 << 27:,}).",
        ),
        "strings": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", ["a"] * 64)]}),
            {},
            400,
            "expected float32 data",
        ),
        "ragged": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", [[1, 2], [3]])]}),
            {},
            400,
            "regular array",
        ),
        "object data": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", {"a": 1})]}),
            {},
            400,
            "expected float32",
        ),
        "NaN token": (
            "POST",
            v2,
            b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[NaN]}]}',
            {},
            400,
            "not valid JSON",
        ),
        "huge int": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", [10**40] * 64)]}),
            {},
            400,
            "",
        ),
        "int8 out of range": (
            "POST",
            v2i8,
            _j({"inputs": [_v2(i8, [1, 8, 8, 1], "INT8", [300] * 64)]}),
            {},
            400,
            "[-128, 127]",
        ),
        "int8 fractions": (
            "POST",
            v2i8,
            _j({"inputs": [_v2(i8, [1, 8, 8, 1], "INT8", [0.5] * 64)]}),
            {},
            400,
            "numbers with a fraction",
        ),
        "missing input": (
            "POST",
            "/v2/models/multi/infer",
            _j({"inputs": [_v2(n["multi"][0], [1, 3], "FP32", [1, 2, 3])]}),
            {},
            400,
            "missing",
        ),
        "extra input": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", ones), _v2("x", [1], "FP32", [1])]}),
            {},
            400,
            "unknown ['x']",
        ),
        "duplicate input": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", ones)] * 2}),
            {},
            400,
            "given twice",
        ),
        "unknown output": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", ones)], "outputs": [{"name": "zz"}]}),
            {},
            400,
            "not an output",
        ),
        "bad classification": (
            "POST",
            v2,
            _j(
                {
                    "inputs": [_v2(fp, [1, 8, 8, 1], "FP32", ones)],
                    "outputs": [{"name": n["fp32_out"], "parameters": {"classification": "x"}}],
                }
            ),
            {},
            400,
            "'classification' must be a positive integer",
        ),
        "outputs not list": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", ones)], "outputs": 3}),
            {},
            400,
            "'outputs' must be a list",
        ),
        "header length too big": ("POST", v2, head + good_bin, {hl: "99999"}, 400, hl),
        "header length text": ("POST", v2, head + good_bin, {hl: "abc"}, 400, hl),
        "header length zero": ("POST", v2, head + good_bin, {hl: "0"}, 400, hl),
        "binary short": ("POST", v2, head + good_bin[:100], {hl: str(len(head))}, 400, "ends at"),
        "binary extra": (
            "POST",
            v2,
            head + good_bin + b"xx",
            {hl: str(len(head))},
            400,
            "add up to",
        ),
        "binary size lies": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], parameters={"binary_data_size": 12})]})
            + b"\0" * 12,
            {
                hl: str(
                    len(
                        _j({"inputs": [_v2(fp, [1, 8, 8, 1], parameters={"binary_data_size": 12})]})
                    )
                )
            },
            400,
            "needs 256",
        ),
        "binary NaN": (
            "POST",
            v2,
            head + np.full(64, np.nan, "<f4").tobytes(),
            {hl: str(len(head))},
            400,
            "NaN or infinity",
        ),
        "beyond float32": (
            "POST",
            v2,
            _j({"inputs": [_v2(fp, [1, 8, 8, 1], "FP32", [1e39, *ones[1:]])]}),
            {},
            400,
            "must lie within +-3.402823e+38 for float32",
        ),
        "v1 beyond float32": ("POST", v1, _j({"instances": beyond}), {}, 400, "lie within"),
        "bad encoding": ("POST", v2, b"{}", {"Content-Encoding": "br"}, 415, "not supported"),
        "bad gzip": ("POST", v2, b"not gzip", {"Content-Encoding": "gzip"}, 400, "decompressed"),
        "gzip bomb": (
            "POST",
            v2,
            gzip.compress(b"0" * (3 * 1024 * 1024)),
            {"Content-Encoding": "gzip"},
            413,
            "exceeds the limit",
        ),
        "deep nesting": ("POST", v2, b"[" * 100000 + b"]" * 100000, {}, 400, "not valid JSON"),
        "v1 both formats": ("POST", v1, _j({"instances": [1], "inputs": [1]}), {}, 400, "exactly"),
        "v1 neither": ("POST", v1, _j({}), {}, 400, "exactly one"),
        "v1 unknown field": ("POST", v1, _j({"instances": [1], "x": 1}), {}, 400, "Unknown"),
        "v1 signature": (
            "POST",
            v1,
            _j({"signature_name": "x", "instances": [1]}),
            {},
            400,
            "signature",
        ),
        "v1 wrong shape": ("POST", v1, _j({"instances": [[1, 2, 3]]}), {}, 400, "expects shape"),
        "v1 b64": ("POST", v1, _j({"instances": [{"b64": "AAAA"}]}), {}, 400, "expected"),
        "v1 empty": ("POST", v1, _j({"instances": []}), {}, 400, "non-empty"),
        "v1 multi rows": (
            "POST",
            "/v1/models/multi:predict",
            _j({"instances": [[1, 2]]}),
            {},
            400,
            "must be an object",
        ),
        "classify not image": (
            "POST",
            "/v1/models/tflite-fp32:classify",
            b"hello",
            {},
            400,
            "not an image",
        ),
        "classify empty": ("POST", "/v1/models/tflite-fp32:classify", b"", {}, 400, "empty"),
        "classify multi model": (
            "POST",
            "/v1/models/multi:classify",
            b"x",
            {},
            400,
            "does not take one image",
        ),
        "classify multipart no file": (
            "POST",
            "/v1/models/tflite-fp32:classify",
            b"--b\r\n\r\nx\r\n--b--",
            {"Content-Type": "multipart/form-data; boundary=b"},
            400,
            "no file part",
        ),
        "wrong method": ("GET", v2, b"", {}, 405, "not allowed"),
        "wrong method fixed": ("DELETE", "/metrics", b"", {}, 405, "not allowed"),
        "odd method": ("BREW", "/v2", b"", {}, 405, "not allowed"),
        "unknown path": ("GET", "/etc/passwd", b"", {}, 404, "No route"),
        "unknown version": ("GET", "/v2/models/tflite-fp32/versions/2", b"", {}, 404, "version"),
        "unknown v2 suffix": ("GET", "/v2/models/tflite-fp32/explain", b"", {}, 404, "No route"),
    }


def test_every_bad_request_is_a_clean_4xx(http, names, artifacts):
    cases = _cases(names)
    good = _j({"instances": artifacts.digits[:1].tolist()})
    failures = []
    for label, (method, path, body, headers, status, text) in cases.items():
        got, _, payload = http(method, path, body, headers)
        message = json.loads(payload).get("error", "") if payload else ""
        if got != status or text not in message:
            failures.append(f"{label}: {got} {message!r}")
        ok, _, _ = http("POST", "/v1/models/tflite-fp32:predict", good)
        if ok != 200:
            failures.append(f"{label}: the next good request got {ok}")
    assert not failures, "\n".join(failures)


def _raw(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /v2/models/tflite-fp32/infer HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"POST /v2/models/tflite-fp32/infer HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /v2/models/tflite-fp32/infer HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /v2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"GET /v2 HTTP/2.0\r\n\r\n", 400),
        (b"garbage\r\n\r\n", 400),
        (b"GET /v2 HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", 431),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_protocol_level_garbage_is_4xx(server, http, raw, status):
    reply = _raw(server, raw)
    assert reply.startswith(f"HTTP/1.1 {status}".encode()) or reply.startswith(
        f"HTTP/1.0 {status}".encode()
    ), reply[:200]
    assert http("GET", "/v2/health/ready")[0] == 200


def test_client_disconnect_mid_body_does_not_hurt(server, http):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/tflite-fp32/infer HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{")
    assert http("GET", "/v2/health/live")[0] == 200


def test_json_beyond_the_input_dtype_is_rejected_without_numpy_warnings():
    """A float64 JSON number past float32's range is a 400, not a RuntimeWarning and an inf."""
    import warnings

    from edgeship.serve.protocol import HttpError
    from edgeship.serve.tensors import array_from_json

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(HttpError, match="within"):
            array_from_json([[1.0, -1e39]], np.dtype("float32"), "x")
        in_range = array_from_json([[1.0, 3e38]], np.dtype("float32"), "x")
        assert in_range.dtype == np.float32 and np.isfinite(in_range).all()
        assert np.isnan(array_from_json([float("nan")], np.dtype("float32"), "x")).all()
