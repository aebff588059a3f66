"""Dynamic batching with real clients: merged batches, own answers, 503 when full, never a hang.

Conditions are forced, not hoped for: a batch forms because the preferred size is reached (the
queue delay is long), a queue fills because the test holds the model's only engine.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from edgeship.errors import ConfigError
from edgeship.serve import BatchingConfig, ServeSettings, create_server
from edgeship.serve.batching import parse_batching_spec
from edgeship.serve.grpc_server import GrpcServer

BATCHING = {
    # merges only when 6 rows are there (or after 10 s): a batch of 6 is certain
    "onnx-fp32": BatchingConfig(6, (6,), max_queue_delay_microseconds=10_000_000),
    "tflite-fp32": BatchingConfig(8, (4, 8), max_queue_delay_microseconds=2000),
    "tflite-int8": BatchingConfig(1, max_queue_size=2),
    "multi": BatchingConfig(4, timeout_microseconds=300_000),
}


@pytest.fixture(scope="module")
def batching(artifacts, loader):
    settings = ServeSettings(port=0, request_timeout_s=30)
    paths = [artifacts.convert_dir, artifacts.multi_dir / "multi.tflite"]
    with (
        create_server(paths, settings, loader=loader, batching=BATCHING) as srv,
        GrpcServer(srv.app, settings, port=0) as grpc_srv,
    ):
        yield srv, grpc_srv


def _post(port: int, model: str, x: np.ndarray, rid: str = "") -> tuple[int, dict, dict]:
    name = "serving_default_image:0" if "tflite" in model else "image"
    doc = {"id": rid, "inputs": [{"name": name, "shape": list(x.shape), "datatype":
           "INT8" if x.dtype == np.int8 else "FP32", "data": x.ravel().tolist()}]}  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", json.dumps(doc).encode())
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read())
    finally:
        conn.close()


def _probs(doc: dict) -> np.ndarray:
    out = doc["outputs"][0]
    return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])


def _stats(srv, model: str) -> dict:
    return srv.app.registry.get(model).stats.as_dict(model, "1")


def test_config_reports_dynamic_batching_over_http_and_grpc(batching):
    srv, grpc_srv = batching
    conf = thttp.InferenceServerClient(f"127.0.0.1:{srv.port}").get_model_config("tflite-fp32")
    assert conf["max_batch_size"] == 8
    assert conf["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    assert conf["dynamic_batching"]["max_queue_delay_microseconds"] == 2000
    assert conf["input"][0]["dims"] == [8, 8, 1]  # Triton: no batch axis when batching
    client = tgrpc.InferenceServerClient(grpc_srv.address)
    gconf = client.get_model_config("tflite-fp32", as_json=True)["config"]
    assert int(gconf["max_batch_size"]) == 8
    assert gconf["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    assert gconf["dynamic_batching"]["default_queue_policy"]["max_queue_size"] == 256
    assert [int(d) for d in gconf["input"][0]["dims"]] == [8, 8, 1]
    client.close()


def test_requests_merge_into_one_batch_and_each_gets_its_own_rows(batching, engines, artifacts):
    srv, grpc_srv = batching
    parts = [artifacts.digits[0:1], artifacts.digits[1:3], artifacts.digits[3:6]]  # 1+2+3 = 6
    before = _stats(srv, "onnx-fp32")
    got: dict[int, np.ndarray] = {}

    def over_http(i: int) -> None:
        status, _, doc = _post(srv.port, "onnx-fp32", parts[i], rid=f"r{i}")
        assert status == 200 and doc["id"] == f"r{i}"
        got[i] = _probs(doc)

    def over_grpc(i: int) -> None:
        client = tgrpc.InferenceServerClient(grpc_srv.address)
        inp = tgrpc.InferInput("image", list(parts[i].shape), "FP32")
        inp.set_data_from_numpy(parts[i])
        got[i] = client.infer("onnx-fp32", [inp]).as_numpy(
            srv.app.registry.get("onnx-fp32").outputs[0].name
        )
        client.close()

    threads = [
        threading.Thread(target=f, args=(i,))
        for i, f in enumerate([over_http, over_grpc, over_http])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    after = _stats(srv, "onnx-fp32")
    assert sorted(got) == [0, 1, 2]
    for i, x in enumerate(parts):
        assert got[i].shape == (len(x), 10)
        np.testing.assert_allclose(got[i], engines["onnx-fp32"].predict(x), rtol=1e-5, atol=1e-6)
    assert after["execution_count"] - before["execution_count"] == 1
    assert after["inference_count"] - before["inference_count"] == 6
    six = [b for b in after["batch_stats"] if b["batch_size"] == 6]
    assert six and six[0]["compute_infer"]["count"] == 1
    queue = after["inference_stats"]["queue"]["count"] - before["inference_stats"]["queue"]["count"]
    assert queue == 3


def test_no_crossed_responses_under_concurrent_load(batching, engines, artifacts):
    srv, _ = batching
    threads_n, rounds = 8, 10
    before = _stats(srv, "tflite-fp32")
    failures: list[str] = []
    rows = [0] * threads_n

    def worker(k: int) -> None:
        rng = np.random.default_rng(k)
        for r in range(rounds):
            start = int(rng.integers(0, 29))
            x = artifacts.digits[start : start + 1 + (k + r) % 3]
            rows[k] += len(x)
            status, _, doc = _post(srv.port, "tflite-fp32", x, rid=f"{k}-{r}")
            want = engines["tflite-fp32"].predict(x)
            if status != 200 or doc.get("id") != f"{k}-{r}":
                failures.append(f"{k}-{r}: {status} {doc}")
            elif not np.allclose(_probs(doc), want, rtol=1e-5, atol=1e-6):
                failures.append(f"{k}-{r}: another request's answer")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures[:5]
    after = _stats(srv, "tflite-fp32")
    success = (
        after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"]
    )
    assert success == threads_n * rounds
    assert after["inference_count"] - before["inference_count"] == sum(rows)


def test_no_crossed_responses_over_grpc(batching, engines, artifacts):
    _, grpc_srv = batching
    failures: list[str] = []
    answered: list[str] = []

    def worker(k: int) -> None:
        client = tgrpc.InferenceServerClient(grpc_srv.address)
        for r in range(8):
            x = artifacts.digits[(3 * k + r) % 30 :][: 1 + (k + r) % 2]
            inp = tgrpc.InferInput("image", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            result = client.infer("tflite-fp32", [inp], request_id=f"{k}-{r}")
            got = result.as_numpy(result.get_response().outputs[0].name)
            want = engines["tflite-fp32"].predict(x)
            if result.get_response().id != f"{k}-{r}" or not np.allclose(got, want, atol=1e-6):
                failures.append(f"{k}-{r}")
            answered.append(f"{k}-{r}")
        client.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert len(answered) == 6 * 8


def test_float_and_int8_requests_never_share_a_batch(artifacts, loader, engines):
    """A quantized model takes float32 or int8; merging the two would corrupt one of them."""
    config = {"tflite-int8": BatchingConfig(4, max_queue_delay_microseconds=100_000)}
    with create_server(
        [artifacts.convert_dir], ServeSettings(port=0), loader=loader, batching=config
    ) as srv:
        engine = engines["tflite-int8"]
        scale, zero = engine.inputs[0].quantization
        results: dict[int, bool] = {}

        def worker(i: int) -> None:
            x = artifacts.digits[i : i + 1]
            if i % 2:
                x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
            status, _, doc = _post(srv.port, "tflite-int8", x)
            results[i] = status == 200 and np.allclose(_probs(doc), engine.predict(x), atol=1e-6)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert results == dict.fromkeys(range(8), True)


def test_a_batch_larger_than_max_batch_size_is_refused(batching, artifacts):
    srv, grpc_srv = batching
    status, _, doc = _post(srv.port, "tflite-fp32", artifacts.digits[:9])
    assert status == 400
    assert "at most 8 rows per request (max_batch_size); got a batch of 9" in doc["error"]
    client = tgrpc.InferenceServerClient(grpc_srv.address)
    inp = tgrpc.InferInput("image", [9, 8, 8, 1], "FP32")
    inp.set_data_from_numpy(artifacts.digits[:9])
    with pytest.raises(InferenceServerException, match="max_batch_size") as exc:
        client.infer("tflite-fp32", [inp])
    assert exc.value.status() == "StatusCode.INVALID_ARGUMENT"
    client.close()


def test_a_full_queue_answers_503_with_retry_after_and_never_hangs(batching, engines, artifacts):
    srv, grpc_srv = batching
    model = srv.app.registry.get("tflite-int8")  # max_batch_size 1, max_queue_size 2, 1 engine
    x = artifacts.digits[:1]
    answers: list[tuple[int, dict, dict]] = []
    with model.engine():  # the batcher's worker blocks on this engine: nothing drains
        threads = [
            threading.Thread(target=lambda: answers.append(_post(srv.port, "tflite-int8", x)))
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while sum(a[0] == 503 for a in answers) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        # at most 1 (in the worker) + 2 (queued) are admitted: at least 3 are refused at once
        refused = [a for a in answers if a[0] == 503]
        assert len(refused) >= 3
        assert all(h.get("retry-after") == "1" for _, h, _ in refused)
        assert "max_queue_size" in refused[0][2]["error"]
        client = tgrpc.InferenceServerClient(grpc_srv.address)
        inp = tgrpc.InferInput("serving_default_image:0", [1, 8, 8, 1], "FP32")
        inp.set_data_from_numpy(x)
        with pytest.raises(InferenceServerException) as exc:
            client.infer("tflite-int8", [inp])
        assert exc.value.status() == "StatusCode.UNAVAILABLE"
        client.close()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 6 and {a[0] for a in answers} <= {200, 503}
    for status, _, doc in answers:
        if status == 200:
            np.testing.assert_array_equal(_probs(doc), engines["tflite-int8"].predict(x))


def test_a_request_that_waits_too_long_gets_503(batching):
    srv, _ = batching
    model = srv.app.registry.get("multi")  # timeout 300 ms
    feeds = {m.name: np.zeros((1, m.shape[1]), np.float32) for m in model.inputs}
    doc = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": "FP32", "data":
           a.ravel().tolist()} for n, a in feeds.items()]}  # fmt: skip
    with model.engine():
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("POST", "/v2/models/multi/infer", json.dumps(doc).encode())
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        assert resp.status == 503 and "did not run the request within 300 ms" in body["error"]
        assert time.monotonic() - start < 20
    status, _, _ = _post_doc(srv.port, "multi", doc)
    assert status == 200  # the model serves again once its engine is free


def _post_doc(port: int, model: str, doc: dict) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", json.dumps(doc).encode())
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read())
    finally:
        conn.close()


def test_batching_settings_are_checked():
    assert parse_batching_spec("max_batch_size=16,preferred_batch_size=4/8") == (
        "*",
        BatchingConfig(16, (4, 8)),
    )
    name, config = parse_batching_spec(
        "tflite-fp32:max_batch_size=4,max_queue_delay_microseconds=500"
    )
    assert name == "tflite-fp32" and config.max_queue_delay_microseconds == 500
    with pytest.raises(ConfigError, match="preferred_batch_size must be an integer from 1 to 4"):
        BatchingConfig(4, (8,))
    with pytest.raises(ConfigError, match="max_batch_size must be an integer from 1 to"):
        BatchingConfig(0)
    with pytest.raises(ConfigError, match=r"expected \[MODEL:\]key=value"):
        parse_batching_spec("max_batch=4")
    with pytest.raises(ConfigError, match="takes integers"):
        parse_batching_spec("max_batch_size=lots")


def test_batching_for_a_model_not_served_is_refused(artifacts, loader):
    with pytest.raises(ConfigError, match=r"Dynamic batching is set for \['nope'\]"):
        create_server([artifacts.fp32_onnx], ServeSettings(port=0), loader=loader,
                      batching={"nope": BatchingConfig()})  # fmt: skip


def test_the_app_says_which_requests_wait_for_others(batching, server):
    from edgeship.serve.protocol import Request

    srv, _ = batching
    assert srv.app.waits(Request("POST", "/v2/models/tflite-fp32/infer"))
    assert srv.app.waits(Request("POST", "/v1/models/onnx-fp32:predict"))
    assert srv.app.waits(Request("POST", "/v2/repository/models/x/load"))
    assert not srv.app.waits(Request("GET", "/v2/health/ready"))
    assert not srv.app.waits(Request("POST", "/v2/models/nope/infer"))
    assert not server.app.waits(Request("POST", "/v2/models/tflite-fp32/infer"))  # no batching
