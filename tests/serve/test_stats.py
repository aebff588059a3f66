"""The statistics extension: Triton's schema, read by tritonclient over HTTP and gRPC."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

from edgeship.serve.grpc_server import GrpcServer
from edgeship.serve.stats import MAX_BATCH_SIZES, Execution, ModelStats

KEYS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@pytest.fixture(scope="module")
def clients(server):
    with GrpcServer(server.app, server.settings, port=0) as grpc_srv:
        h = thttp.InferenceServerClient(f"127.0.0.1:{server.port}", connection_timeout=10)
        g = tgrpc.InferenceServerClient(grpc_srv.address)
        yield h, g
        h.close()
        g.close()


def _one(stats: dict) -> dict:
    (entry,) = stats["model_stats"]
    return entry


def _grpc_stats(g, model: str) -> dict:
    entry = _one(g.get_inference_statistics(model, as_json=True))

    # protobuf's JSON form writes uint64 as strings and leaves out zeros
    def num(d: dict, key: str) -> int:
        return int(d.get(key, 0))

    return {
        "inference_count": num(entry, "inference_count"),
        "execution_count": num(entry, "execution_count"),
        **{k: num(entry["inference_stats"].get(k, {}), "count") for k in KEYS},
    }


def test_counts_and_durations_follow_requests(clients, server, artifacts):
    h, g = clients
    in_name = server.app.registry.get("tflite-fp32").inputs[0].name
    before = _one(h.get_inference_statistics("tflite-fp32"))
    for rows in (1, 2, 3):
        inp = thttp.InferInput(in_name, [rows, 8, 8, 1], "FP32")
        inp.set_data_from_numpy(artifacts.digits[:rows])
        h.infer("tflite-fp32", [inp])
    bad = thttp.InferInput(in_name, [1, 8, 8, 2], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 8, 8, 2), np.float32))
    with pytest.raises(Exception, match="expects shape"):
        h.infer("tflite-fp32", [bad])
    ginp = tgrpc.InferInput(in_name, [2, 8, 8, 1], "FP32")
    ginp.set_data_from_numpy(artifacts.digits[:2])
    g.infer("tflite-fp32", [ginp])
    after = _one(h.get_inference_statistics("tflite-fp32"))
    assert after["name"] == "tflite-fp32" and after["version"] == "1"

    def delta(key: str) -> int:
        return after["inference_stats"][key]["count"] - before["inference_stats"][key]["count"]

    assert delta("success") == 4 and delta("fail") == 1
    assert delta("queue") == delta("compute_infer") == delta("compute_output") == 4
    assert after["inference_count"] - before["inference_count"] == 1 + 2 + 3 + 2
    assert after["execution_count"] - before["execution_count"] == 4
    assert (
        after["inference_stats"]["success"]["ns"]
        > after["inference_stats"]["compute_infer"]["ns"]
        > 0
    )
    assert abs(after["last_inference"] / 1000 - time.time()) < 60
    sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in after["batch_stats"]}
    before_sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in before["batch_stats"]}
    assert sizes[3] - before_sizes.get(3, 0) == 1 and sizes[2] - before_sizes.get(2, 0) == 2
    # the same numbers over gRPC
    grpc_view = _grpc_stats(g, "tflite-fp32")
    assert grpc_view["success"] == after["inference_stats"]["success"]["count"]
    assert grpc_view["fail"] == after["inference_stats"]["fail"]["count"]
    assert grpc_view["inference_count"] == after["inference_count"]
    assert grpc_view["execution_count"] == after["execution_count"]


def test_every_endpoint_that_infers_is_counted(http, server, artifacts):
    before = server.app.registry.get("onnx-fp32").stats.as_dict("onnx-fp32", "1")
    body = json.dumps({"instances": artifacts.digits[:2].tolist()}).encode()
    assert http("POST", "/v1/models/onnx-fp32:predict", body)[0] == 200
    assert http("POST", "/v1/models/onnx-fp32:predict", b"{nope")[0] == 400
    status, _, raw = http("GET", "/v2/models/onnx-fp32/versions/1/stats")
    assert status == 200
    after = json.loads(raw)["model_stats"][0]
    assert (
        after["inference_stats"]["success"]["count"]
        == before["inference_stats"]["success"]["count"] + 1
    )
    assert (
        after["inference_stats"]["fail"]["count"] == before["inference_stats"]["fail"]["count"] + 1
    )
    assert after["inference_count"] == before["inference_count"] + 2


def test_all_models_and_errors(clients, http):
    h, g = clients
    names = sorted(m["name"] for m in h.get_inference_statistics()["model_stats"])
    assert names == ["multi", "onnx-fp32", "tflite-fp32", "tflite-int8"]
    gnames = sorted(m["name"] for m in g.get_inference_statistics(as_json=True)["model_stats"])
    assert gnames == names
    status, _, body = http("GET", "/v2/models/nope/stats")
    assert status == 404 and b"Unknown model 'nope'" in body
    assert http("GET", "/v2/models/tflite-fp32/versions/9/stats")[0] == 404
    status, headers, _ = http("POST", "/v2/models/stats")
    assert status == 405 and headers["allow"] == "GET"
    with pytest.raises(Exception, match="Unknown model 'nope'"):
        g.get_inference_statistics("nope")


def test_batch_sizes_chosen_by_clients_keep_the_table_bounded():
    stats = ModelStats()
    for rows in range(1, 3 * MAX_BATCH_SIZES):
        stats.record_execution(Execution(rows, (1000,), 10, 20, 30))
    got = stats.as_dict("m", "1")
    assert len(got["batch_stats"]) == MAX_BATCH_SIZES
    assert got["execution_count"] == 3 * MAX_BATCH_SIZES - 1  # every execution still counted
    assert got["inference_stats"]["compute_infer"]["count"] == 3 * MAX_BATCH_SIZES - 1


def test_record_single_counts_as_an_execution_of_one_request():
    one, other = ModelStats(), ModelStats()
    for rows, queue, infer, output in ((1, 500, 9000, 300), (3, 0, 12000, -5), (1, 70, 8000, 20)):
        one.record_single(rows, queue, infer, output)
        other.record_execution(Execution(rows, (queue,), 0, infer, output))
    got, want = one.as_dict("m", "1"), other.as_dict("m", "1")
    got.pop("last_inference"), want.pop("last_inference")
    assert got == want
    assert got["inference_stats"]["compute_infer"] == {"count": 3, "ns": 29000}
    assert got["inference_stats"]["compute_output"]["ns"] == 320  # a negative time counts 0
    assert [b["batch_size"] for b in got["batch_stats"]] == [1, 3]
