"""KServe v2 over gRPC with the real tritonclient.grpc client, beside the HTTP server."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from edgeship.serve.grpc_server import GrpcServer


@pytest.fixture(scope="module")
def grpc_server(server):
    """gRPC on a free port, sharing the session server's App (models, checks, metrics)."""
    with GrpcServer(server.app, server.settings, port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(grpc_server):
    c = tgrpc.InferenceServerClient(grpc_server.address)
    yield c
    c.close()


@pytest.fixture(scope="module")
def http_client(server):
    c = thttp.InferenceServerClient(f"127.0.0.1:{server.port}", connection_timeout=10)
    yield c
    c.close()


def _names(server, model):
    m = server.app.registry.get(model)
    return m.inputs[0].name, m.outputs[0].name


def test_health_metadata_and_config(client, server):
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "edgeship" and "statistics" in meta["extensions"]
    model = client.get_model_metadata("tflite-int8", as_json=True)
    assert model["platform"] == "tensorflow_lite"
    assert model["inputs"][0]["datatype"] == "FP32"  # the server quantizes float input
    assert [int(d) for d in model["inputs"][0]["shape"]] == [-1, 8, 8, 1]
    assert model["outputs"][0]["datatype"] == "FP32"
    assert client.is_model_ready("tflite-int8")
    assert client.is_model_ready("tflite-int8", model_version="1")
    assert not client.is_model_ready("tflite-int8", model_version="7")
    assert not client.is_model_ready("nope")
    config = client.get_model_config("onnx-fp32", as_json=True)["config"]
    assert config["platform"] == "onnxruntime_onnx"
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert int(config.get("max_batch_size", 0)) == 0 and "dynamic_batching" not in config
    index = client.get_model_repository_index(as_json=True)["models"]
    assert sorted(m["name"] for m in index) == ["multi", "onnx-fp32", "tflite-fp32", "tflite-int8"]


@pytest.mark.parametrize("model", ["tflite-fp32", "onnx-fp32", "tflite-int8"])
def test_float32_infer_matches_engine_and_http(client, http_client, server, engines, artifacts,
                                               model):  # fmt: skip
    x = artifacts.digits[3:8]
    in_name, out_name = _names(server, model)
    inp = tgrpc.InferInput(in_name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(model, [inp], request_id="g-1")
    got = result.as_numpy(out_name)
    assert got.dtype == np.float32 and got.shape == (5, 10)
    np.testing.assert_array_equal(got, engines[model].predict(x))
    assert result.get_response().id == "g-1"
    hinp = thttp.InferInput(in_name, list(x.shape), "FP32")
    hinp.set_data_from_numpy(x)
    np.testing.assert_array_equal(got, http_client.infer(model, [hinp]).as_numpy(out_name))


def test_int8_infer_matches_engine_and_http(client, http_client, server, engines, artifacts):
    engine = engines["tflite-int8"]
    scale, zero = engine.inputs[0].quantization
    q = np.clip(np.round(artifacts.digits[:4] / scale + zero), -128, 127).astype(np.int8)
    in_name, out_name = _names(server, "tflite-int8")
    inp = tgrpc.InferInput(in_name, list(q.shape), "INT8")
    inp.set_data_from_numpy(q)
    got = client.infer("tflite-int8", [inp]).as_numpy(out_name)
    np.testing.assert_array_equal(got, engine.predict(q))
    hinp = thttp.InferInput(in_name, list(q.shape), "INT8")
    hinp.set_data_from_numpy(q)
    np.testing.assert_array_equal(got, http_client.infer("tflite-int8", [hinp]).as_numpy(out_name))


def test_two_inputs_two_outputs_and_output_selection(client, server, engines):
    model = server.app.registry.get("multi")
    rng = np.random.default_rng(0)
    feeds = {m.name: rng.standard_normal((3, m.shape[1])).astype(np.float32) for m in model.inputs}
    inputs = []
    for name, arr in feeds.items():
        inp = tgrpc.InferInput(name, list(arr.shape), "FP32")
        inp.set_data_from_numpy(arr)
        inputs.append(inp)
    want = engines["multi"].predict(feeds)
    result = client.infer("multi", inputs)
    for m in model.outputs:
        np.testing.assert_array_equal(result.as_numpy(m.name), want[m.name])
    second = model.outputs[1].name
    only = client.infer("multi", inputs, outputs=[tgrpc.InferRequestedOutput(second)])
    assert only.as_numpy(model.outputs[0].name) is None
    np.testing.assert_array_equal(only.as_numpy(second), want[second])


def test_classification_extension(client, server, engines, artifacts):
    x = artifacts.digits[:2]
    in_name, out_name = _names(server, "onnx-fp32")
    inp = tgrpc.InferInput(in_name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    out = tgrpc.InferRequestedOutput(out_name, class_count=2)
    got = client.infer("onnx-fp32", [inp], outputs=[out]).as_numpy(out_name)
    want = engines["onnx-fp32"].predict(x)
    assert got.shape == (2, 2)
    for r in range(2):
        top = int(np.argmax(want[r]))
        assert got[r][0].decode().split(":")[1] == str(top)


def test_stream_infer_answers_each_request_in_order(client, server, engines, artifacts):
    in_name, out_name = _names(server, "tflite-fp32")
    results = []
    client.start_stream(callback=lambda result, error: results.append((result, error)))
    try:
        for i in range(3):
            x = artifacts.digits[i : i + 1]
            inp = tgrpc.InferInput(in_name, list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            client.async_stream_infer("tflite-fp32", [inp], request_id=str(i))
        bad = tgrpc.InferInput(in_name, [1, 8, 8, 2], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 8, 8, 2), np.float32))
        client.async_stream_infer("tflite-fp32", [bad], request_id="bad")
    finally:
        client.stop_stream()
    assert len(results) == 4
    for i, (result, error) in enumerate(results[:3]):
        assert error is None and result.get_response().id == str(i)
        want = engines["tflite-fp32"].predict(artifacts.digits[i : i + 1])
        np.testing.assert_array_equal(result.as_numpy(out_name), want)
    assert results[3][0] is None and "expects shape (N, 8, 8, 1)" in str(results[3][1])


def test_errors_are_typed_and_the_server_keeps_serving(client, server, artifacts):
    x = artifacts.digits[:1]
    in_name, _ = _names(server, "tflite-fp32")
    inp = tgrpc.InferInput(in_name, list(x.shape), "FP64")
    inp.set_data_from_numpy(x.astype(np.float64))
    with pytest.raises(InferenceServerException, match=r"expects FP32 \(float32\) data") as exc:
        client.infer("tflite-fp32", [inp])
    assert exc.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException, match="Unknown model 'nope'") as exc:
        client.infer("nope", [inp])
    assert exc.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as exc:
        client.get_model_metadata("nope")
    assert exc.value.status() == "StatusCode.NOT_FOUND"
    assert client.is_server_live()


def test_stop_shuts_down_the_threads_that_ran_rpcs(server):
    own = GrpcServer(server.app, server.settings, port=0).start()
    c = tgrpc.InferenceServerClient(own.address)
    assert c.is_server_live()
    c.close()
    own.stop(0)
    with pytest.raises(RuntimeError, match="after shutdown"):
        own._executor.submit(int)  # its thread pool is shut down, not left behind
