"""The ASGI adapter on its own: fast endpoints run on the event loop, slow ones move off it."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np

from edgeship.serve import App, ServeSettings, load_registry
from edgeship.serve.asgi import INLINE_BUDGET_S, MAX_TRACKED_ENDPOINTS, AsgiAdapter

from .conftest import runtime_load

BURN_S = 0.003  # CPU seconds each slow call burns (3x the inline budget)


class _SlowEngine:
    """A real engine whose predict first burns CPU and records the thread it ran on."""

    def __init__(self, engine, threads: list[str]) -> None:
        self._engine = engine
        self._threads = threads

    def predict(self, x):
        self._threads.append(threading.current_thread().name)
        start = time.thread_time()
        while time.thread_time() - start < BURN_S:
            pass
        return self._engine.predict(x)

    def __getattr__(self, name):
        return getattr(self._engine, name)


def _call(adapter: AsgiAdapter, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    sent: list[dict] = []
    scope = {"type": "http", "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-length", str(len(body)).encode())]}  # fmt: skip

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(adapter(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_slow_inference_moves_to_the_thread_pool_and_health_stays_inline(artifacts):
    load = runtime_load()
    threads: list[str] = []
    registry = load_registry(
        [artifacts.fp32_tflite], loader=lambda *a, **k: _SlowEngine(load(*a, **k), threads)
    )
    adapter = AsgiAdapter(App(registry), ServeSettings())
    first = len(threads)  # loading may run the model once
    try:
        x = artifacts.digits[:1]
        body = json.dumps({"instances": x.tolist()}).encode()
        want = load(str(artifacts.fp32_tflite)).predict(x)
        for _ in range(30):
            status, payload = _call(adapter, "POST", "/v1/models/tiny-digits:predict", body)
            assert status == 200
            got = np.asarray(json.loads(payload)["predictions"], np.float32)
            np.testing.assert_array_equal(got, want)
        assert _call(adapter, "GET", "/v2/health/ready")[0] == 200
    finally:
        adapter.close()
        registry.close()
    main = threading.main_thread().name
    assert threads[first] == main  # a new endpoint starts inline
    assert all(name.startswith("edgeship") for name in threads[-5:]), threads  # then moves off
    assert adapter._cost["tiny-digits", "v1_predict"] > INLINE_BUDGET_S
    assert adapter._cost["", "health"] < INLINE_BUDGET_S


def test_the_offload_rule_sends_chosen_requests_off_the_loop(artifacts):
    load = runtime_load()
    threads: list[str] = []
    registry = load_registry(
        [artifacts.fp32_tflite], loader=lambda *a, **k: _SlowEngine(load(*a, **k), threads)
    )
    adapter = AsgiAdapter(App(registry), ServeSettings())
    adapter.offload = lambda request: request.path.endswith(":predict")
    try:
        body = json.dumps({"instances": artifacts.digits[:1].tolist()}).encode()
        assert _call(adapter, "POST", "/v1/models/tiny-digits:predict", body)[0] == 200
    finally:
        adapter.close()
        registry.close()
    assert threads and threads[-1].startswith("edgeship")


def _slow_adapter(artifacts, threads: list[str]):  # type: ignore[no-untyped-def]
    load = runtime_load()
    registry = load_registry(
        [artifacts.fp32_tflite], loader=lambda *a, **k: _SlowEngine(load(*a, **k), threads)
    )
    return AsgiAdapter(App(registry), ServeSettings()), registry


def test_cost_is_kept_per_model_and_endpoint_however_the_path_is_spelled(artifacts):
    threads: list[str] = []
    adapter, registry = _slow_adapter(artifacts, threads)
    body = json.dumps({"instances": artifacts.digits[:1].tolist()}).encode()
    spellings = [
        "/v1/models/tiny-digits:predict",
        "/v1/models/tiny-digits/versions/1:predict",
        "/v1/models/%74iny-digits:predict",
    ]
    try:
        for _ in range(10):
            for path in spellings:
                assert _call(adapter, "POST", path, body)[0] == 200
        assert _call(adapter, "GET", "/v2/health/ready")[0] == 200
    finally:
        adapter.close()
        registry.close()
    assert set(adapter._cost) == {("tiny-digits", "v1_predict"), ("", "health")}
    assert all(name.startswith("edgeship") for name in threads[-6:]), threads  # every spelling


def test_once_the_cost_table_is_full_an_untracked_endpoint_runs_off_the_loop(artifacts):
    threads: list[str] = []
    adapter, registry = _slow_adapter(artifacts, threads)
    for i in range(MAX_TRACKED_ENDPOINTS):  # fill the table with cheap endpoints
        adapter._cost[f"m{i}", "v2_infer"] = 0.0
    body = json.dumps({"instances": artifacts.digits[:1].tolist()}).encode()
    try:
        first = len(threads)
        assert _call(adapter, "POST", "/v1/models/tiny-digits:predict", body)[0] == 200
    finally:
        adapter.close()
        registry.close()
    assert threads[first].startswith("edgeship"), threads  # its very first call
    assert ("tiny-digits", "v1_predict") not in adapter._cost
