"""KServe v2 with the real tritonclient.http client: JSON and binary tensors, fp32 and int8."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def client(server):
    c = triton.InferenceServerClient(f"127.0.0.1:{server.port}", connection_timeout=10)
    yield c
    c.close()


def _dumps(value):
    return json.dumps(value).encode()


def _names(server, model):
    m = server.app.registry.get(model)
    return m.inputs[0].name, m.outputs[0].name


def test_health_and_server_metadata(client, server):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "edgeship"
    assert "binary_tensor_data" in meta["extensions"]
    assert sorted(m["name"] for m in client.get_model_repository_index()) == [
        "multi",
        "onnx-fp32",
        "tflite-fp32",
        "tflite-int8",
    ]


def test_model_metadata_describes_int8_input(client, server):
    meta = client.get_model_metadata("tflite-int8")
    assert meta["platform"] == "tensorflow_lite"
    assert meta["inputs"][0]["datatype"] == "FP32"  # what to send: the server quantizes it
    assert meta["inputs"][0]["shape"] == [-1, 8, 8, 1]
    assert meta["outputs"][0]["datatype"] == "FP32"  # dequantized by the runtime
    assert client.is_model_ready("tflite-int8")
    assert client.is_model_ready("tflite-int8", model_version="1")
    assert not client.is_model_ready("tflite-int8", model_version="7")
    assert not client.is_model_ready("nope")
    assert client.get_model_config("onnx-fp32")["platform"] == "onnxruntime_onnx"


@pytest.mark.parametrize("model", ["tflite-fp32", "onnx-fp32", "tflite-int8"])
@pytest.mark.parametrize("binary", [True, False])
def test_float32_input_matches_engine(client, server, engines, artifacts, model, binary):
    x = artifacts.digits[:5]
    in_name, out_name = _names(server, model)
    inp = triton.InferInput(in_name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = triton.InferRequestedOutput(out_name, binary_data=binary)
    result = client.infer(model, [inp], outputs=[out], request_id="r-1")
    got = result.as_numpy(out_name)
    want = engines[model].predict(x)
    assert got.dtype == np.float32 and got.shape == (5, 10)
    np.testing.assert_array_equal(got, want)
    assert result.get_response()["id"] == "r-1"


@pytest.mark.parametrize("binary", [True, False])
def test_int8_input_matches_engine(client, server, engines, artifacts, binary):
    engine = engines["tflite-int8"]
    scale, zero = engine.inputs[0].quantization
    q = np.clip(np.round(artifacts.digits[:3] / scale + zero), -128, 127).astype(np.int8)
    in_name, out_name = _names(server, "tflite-int8")
    inp = triton.InferInput(in_name, list(q.shape), "INT8")
    inp.set_data_from_numpy(q, binary_data=binary)
    # No outputs requested: tritonclient asks for every output in binary form.
    result = client.infer("tflite-int8", [inp])
    np.testing.assert_array_equal(result.as_numpy(out_name), engine.predict(q))


@pytest.mark.parametrize("binary", [True, False])
def test_classification_extension_gives_top_k_with_labels(client, server, engines, artifacts,
                                                          binary):  # fmt: skip
    x = artifacts.digits[:3]
    in_name, out_name = _names(server, "onnx-fp32")
    inp = triton.InferInput(in_name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    out = triton.InferRequestedOutput(out_name, binary_data=binary, class_count=3)
    got = client.infer("onnx-fp32", [inp], outputs=[out]).as_numpy(out_name)
    want = engines["onnx-fp32"].predict(x)
    assert got.shape == (3, 3)
    labels = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    for r in range(3):
        order = np.argsort(-want[r], kind="stable")[:3]
        entries = [v.decode() if isinstance(v, bytes) else v for v in got[r]]
        assert [e.split(":")[1:] for e in entries] == [[str(i), labels[i]] for i in order]
        np.testing.assert_allclose([float(e.split(":")[0]) for e in entries], want[r][order],
                                   atol=1e-6)  # fmt: skip


def test_compressed_request_and_versioned_path(client, server, engines, artifacts):
    x = artifacts.digits[:2]
    in_name, out_name = _names(server, "onnx-fp32")
    inp = triton.InferInput(in_name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    for algorithm in ("gzip", "deflate"):
        result = client.infer(
            "onnx-fp32", [inp], model_version="1", request_compression_algorithm=algorithm
        )
        np.testing.assert_array_equal(result.as_numpy(out_name), engines["onnx-fp32"].predict(x))


def test_two_inputs_two_outputs(client, server, engines):
    model = server.app.registry.get("multi")
    rng = np.random.default_rng(0)
    feeds = {m.name: rng.standard_normal((1, m.shape[1])).astype(np.float32) for m in model.inputs}
    inputs = []
    for i, (name, arr) in enumerate(feeds.items()):
        inp = triton.InferInput(name, list(arr.shape), "FP32")
        inp.set_data_from_numpy(arr, binary_data=bool(i % 2))
        inputs.append(inp)
    outputs = [
        triton.InferRequestedOutput(m.name, binary_data=bool(i % 2))
        for i, m in enumerate(model.outputs)
    ]
    result = client.infer("multi", inputs, outputs=outputs)
    want = engines["multi"].predict(feeds)
    for m in model.outputs:
        np.testing.assert_array_equal(result.as_numpy(m.name), want[m.name])


def test_short_input_name_is_accepted(client, server, engines, artifacts):
    x = artifacts.digits[:1]
    inp = triton.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    _, out_name = _names(server, "tflite-fp32")
    got = client.infer("tflite-fp32", [inp]).as_numpy(out_name)
    np.testing.assert_array_equal(got, engines["tflite-fp32"].predict(x))


def test_unknown_model_and_wrong_datatype_raise_client_errors(client, server, artifacts):
    x = artifacts.digits[:1]
    in_name, _ = _names(server, "tflite-fp32")
    inp = triton.InferInput(in_name, list(x.shape), "FP64")
    inp.set_data_from_numpy(x.astype(np.float64))
    with pytest.raises(InferenceServerException, match=r"expects FP32 \(float32\) data, got FP64"):
        client.infer("tflite-fp32", [inp])
    with pytest.raises(InferenceServerException, match="Unknown model 'nope'"):
        client.infer("nope", [inp])
    assert client.is_server_live()


def test_raw_binary_request_layout(http, server, engines, artifacts):
    """The extension's wire format, written by hand: JSON header, then little-endian bytes."""
    x = artifacts.digits[:2]
    in_name, out_name = _names(server, "tflite-fp32")
    head = _dumps(
        {
            "inputs": [
                {
                    "name": in_name,
                    "shape": [2, 8, 8, 1],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": out_name, "parameters": {"binary_data": True}}],
        }
    )
    status, headers, body = http(
        "POST",
        "/v2/models/tflite-fp32/infer",
        head + x.astype("<f4").tobytes(),
        {"Inference-Header-Content-Length": str(len(head))},
    )
    assert status == 200
    hlen = int(headers["inference-header-content-length"])
    doc = json.loads(body[:hlen])
    assert doc["outputs"][0]["parameters"]["binary_data_size"] == 2 * 10 * 4
    got = np.frombuffer(body[hlen:], dtype="<f4").reshape(2, 10)
    np.testing.assert_array_equal(got, engines["tflite-fp32"].predict(x))


def test_json_request_with_nested_data(http, server, engines, artifacts):
    x = artifacts.digits[:1]
    in_name, _ = _names(server, "onnx-fp32")
    req = {"inputs": [{"name": in_name, "shape": [1, 8, 8, 1], "datatype": "FP32",
                       "data": x.tolist()}]}  # fmt: skip
    status, _, body = http("POST", "/v2/models/onnx-fp32/infer", _dumps(req))
    assert status == 200
    out = json.loads(body)["outputs"][0]
    assert out["datatype"] == "FP32" and out["shape"] == [1, 10]
    np.testing.assert_allclose(out["data"], engines["onnx-fp32"].predict(x).ravel(), rtol=1e-6)
