"""Bounded fuzzing of every endpoint over real HTTP: zero 5xx, the server keeps serving."""

from __future__ import annotations

import http.client
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MODELS = ["tflite-fp32", "tflite-int8", "onnx-fp32", "multi", "nope", "..", "%2e%2e", ""]
SUFFIXES = ["/infer", "", "/ready", "/config", "/versions/1/infer", "/versions/x", "/metadata",
            ":predict", ":classify", ":classify?top_k=-1", "/infer?x=%ff"]  # fmt: skip
DATATYPES = ["FP32", "INT8", "UINT8", "FP16", "FP64", "INT64", "BOOL", "BYTES", "fp32", None, 3]
MAX_EXAMPLES = 300

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=30,
)  # fmt: skip

v2_input = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["serving_default_image:0", "image", "a", ""]) | json_values,
        "shape": st.lists(st.integers(-2, 10), max_size=5) | json_values,
        "datatype": st.sampled_from(DATATYPES),
    },
    optional={
        "data": st.lists(st.floats(-1e3, 1e3) | st.integers(-300, 300), max_size=80) | json_values,
        "parameters": st.fixed_dictionaries(
            {"binary_data_size": st.integers(-5, 300) | json_values}
        ),
    },
)
v2_body = st.fixed_dictionaries(
    {"inputs": st.lists(v2_input, max_size=3) | json_values},
    optional={"outputs": json_values, "parameters": json_values, "id": json_values},
)
v1_body = st.dictionaries(
    st.sampled_from(["instances", "inputs", "signature_name", "other"]), json_values, max_size=3
)


@st.composite
def requests(draw):
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]))
    api = draw(st.sampled_from(["/v1/models/", "/v2/models/"]))
    path = draw(
        st.sampled_from(["/v2", "/v2/health/live", "/metrics", "/v2/repository/index", "/x"])
        | st.builds(lambda m, s: api + m + s, st.sampled_from(MODELS), st.sampled_from(SUFFIXES))
    )
    doc = draw(v2_body | v1_body | json_values)
    body = json.dumps(doc).encode()
    headers = {}
    kind = draw(st.sampled_from(["json", "binary", "bytes", "truncated"]))
    if kind == "binary":
        tail = draw(st.binary(max_size=300))
        hlen = draw(st.sampled_from([len(body), len(body) + 1, 0, -1]) | st.integers(0, 400))
        headers["Inference-Header-Content-Length"] = str(hlen)
        body += tail
    elif kind == "bytes":
        body = draw(st.binary(max_size=400))
    elif kind == "truncated":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    if draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "image/png", "multipart/form-data; boundary=b"])
        )
    if draw(st.integers(0, 9)) == 0:
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "x"]))
    return method, path, body, headers


def test_fuzz_endpoints_never_5xx(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    seen: dict[int, int] = {}

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def check(req):
        nonlocal conn
        method, path, body, headers = req
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (http.client.HTTPException, OSError):
            conn.close()  # the server closed a connection it could not trust; reconnect
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/v2/health/live")
            resp = conn.getresponse()
            payload = resp.read()
        seen[resp.status] = seen.get(resp.status, 0) + 1
        assert resp.status < 500, (method, path, body[:200], headers, payload[:300])

    check()
    conn.close()
    assert sum(seen.values()) >= MAX_EXAMPLES // 2
    assert any(400 <= s < 500 for s in seen)
