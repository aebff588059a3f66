"""TensorFlow Serving REST: row and columnar formats, status and metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _post(http, model, doc):
    status, _, body = http("POST", f"/v1/models/{model}:predict", json.dumps(doc).encode())
    return status, json.loads(body)


@pytest.mark.parametrize("model", ["tflite-fp32", "onnx-fp32", "tflite-int8"])
def test_rows_and_columns_match_engine(http, engines, artifacts, model):
    x = artifacts.digits[:4]
    want = engines[model].predict(x)
    status, doc = _post(http, model, {"instances": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.asarray(doc["predictions"], dtype=np.float32), want)
    status, doc = _post(http, model, {"signature_name": "serving_default", "inputs": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.asarray(doc["outputs"], dtype=np.float32), want)


def test_int8_model_takes_raw_integers(http, engines, artifacts):
    engine = engines["tflite-int8"]
    scale, zero = engine.inputs[0].quantization
    q = np.clip(np.round(artifacts.digits[:2] / scale + zero), -128, 127).astype(np.int8)
    status, doc = _post(http, "tflite-int8", {"instances": q.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.asarray(doc["predictions"], np.float32), engine.predict(q))


def test_named_inputs_and_several_outputs(http, server, engines):
    model = server.app.registry.get("multi")
    feeds = {m.name: np.arange(m.shape[1], dtype=np.float32)[None] / 4 for m in model.inputs}
    want = engines["multi"].predict(feeds)
    rows = [{k: v[0].tolist() for k, v in feeds.items()}]
    status, doc = _post(http, "multi", {"instances": rows})
    assert status == 200
    for name in want:
        np.testing.assert_array_equal(np.asarray(doc["predictions"][0][name], np.float32),
                                      want[name][0])  # fmt: skip
    status, doc = _post(http, "multi", {"inputs": {k: v.tolist() for k, v in feeds.items()}})
    assert status == 200
    for name in want:
        np.testing.assert_array_equal(np.asarray(doc["outputs"][name], np.float32), want[name])


def test_status_and_metadata(http):
    status, _, body = http("GET", "/v1/models/tflite-int8")
    assert status == 200
    assert json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    status, _, body = http("GET", "/v1/models/tflite-int8/versions/1/metadata")
    sig = json.loads(body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    (inp,) = sig["inputs"].values()
    assert status == 200 and inp["dtype"] == "DT_FLOAT"  # the server quantizes float input
    assert [d["size"] for d in inp["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    status, _, body = http("GET", "/v1/models/nope/metadata")
    assert status == 404 and "Unknown model 'nope'" in json.loads(body)["error"]


def test_short_input_names_work_like_tf_serving_signature_keys(http, server, engines, artifacts):
    x = artifacts.digits[:2]
    status, doc = _post(http, "tflite-fp32", {"instances": [{"image": r} for r in x.tolist()]})
    assert status == 200
    want = engines["tflite-fp32"].predict(x)
    np.testing.assert_array_equal(np.asarray(doc["predictions"], np.float32), want)
    status, doc = _post(http, "multi", {"inputs": {"a": [[1, 2, 3, 4]], "b": [[0, 1, 0]]}})
    assert status == 200 and len(doc["outputs"]) == 2
    status, _, body = http("GET", "/v1/models/multi/metadata")
    sig = json.loads(body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sorted(sig["inputs"]) == ["a", "b"]
    assert sig["inputs"]["a"]["name"] == "a"
    real = server.app.registry.get("tflite-fp32").inputs[0].artifact_name
    status, doc = _post(http, "tflite-fp32", {"inputs": {"image": x.tolist(), real: x.tolist()}})
    assert status == 400 and "expected ['image']" in doc["error"]


def test_input_aliases_are_unambiguous_only():
    from edgeship.serve.registry import TensorMeta, input_aliases

    metas = [TensorMeta("serving_default_a:0", (-1, 2), "float32"),
             TensorMeta("serving_default_b:0", (-1, 2), "float32"),
             TensorMeta("x:0", (-1,), "float32"), TensorMeta("x:1", (-1,), "float32"),
             TensorMeta("plain", (-1,), "float32")]  # fmt: skip
    assert input_aliases(metas) == {"a": "serving_default_a:0", "b": "serving_default_b:0"}
