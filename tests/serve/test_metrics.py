"""Prometheus metrics: counters, error counts, histograms, and a valid text format."""

from __future__ import annotations

import json
import re

from edgeship.serve.metrics import BUCKETS, Metrics

LINE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? [0-9.e+-]+$')


def _value(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_errors_and_latency(http, artifacts):
    _, _, before = http("GET", "/metrics")
    body = json.dumps({"instances": artifacts.digits[:1].tolist()}).encode()
    for _ in range(3):
        assert http("POST", "/v1/models/onnx-fp32:predict", body)[0] == 200
    assert http("POST", "/v1/models/onnx-fp32:predict", b"{")[0] == 400
    status, headers, after = http("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text, old = after.decode(), before.decode()
    ok = 'edgeship_requests_total{model="onnx-fp32",endpoint="v1_predict",code="200"}'
    bad = 'edgeship_requests_total{model="onnx-fp32",endpoint="v1_predict",code="400"}'
    err = 'edgeship_request_errors_total{model="onnx-fp32",endpoint="v1_predict"}'
    count = 'edgeship_request_duration_seconds_count{model="onnx-fp32",endpoint="v1_predict"}'
    assert _value(text, ok) - _value(old, ok) == 3
    assert _value(text, bad) - _value(old, bad) == 1
    assert _value(text, err) - _value(old, err) == 1
    assert _value(text, count) - _value(old, count) == 4
    assert _value(text, 'edgeship_inference_duration_seconds_count{model="onnx-fp32"}') >= 3
    assert "edgeship_models_loaded 4" in text
    for line in text.splitlines():
        assert line.startswith("# ") or LINE.match(line), line


def test_histogram_buckets_are_cumulative_and_labels_escaped():
    m = Metrics()
    for seconds in (0.00005, 0.003, 0.003, 2.0):
        m.observe_request('we"ird\nname', "v2_infer", 200, seconds)
    text = m.render()
    assert 'model="we\\"ird\\nname"' in text
    buckets = [
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("edgeship_request_duration_seconds_bucket")
    ]
    assert len(buckets) == len(BUCKETS) + 1
    assert buckets == sorted(buckets) and buckets[0] == 1 and buckets[-1] == 4
    assert m.requests('we"ird\nname', "v2_infer", 200) == 4
