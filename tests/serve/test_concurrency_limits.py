"""Many requests in flight: each gets its own answer. Slow clients time out; HEAD works."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading

import numpy as np
import pytest

from edgeship.serve import ServeSettings, create_server

THREADS = 8
ROUNDS = 25


def test_concurrent_requests_never_mix_tensors(server, engines, artifacts):
    models = ["tflite-fp32", "onnx-fp32", "tflite-int8"]
    failures: list[str] = []

    def worker(k: int) -> None:
        model = models[k % len(models)]
        x = artifacts.digits[k : k + 1 + k % 3]  # distinct data and batch size per thread
        want = engines[model].predict(x)
        body = json.dumps({"instances": x.tolist()}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for _ in range(ROUNDS):
            conn.request("POST", f"/v1/models/{model}:predict", body)
            resp = conn.getresponse()
            got = np.asarray(json.loads(resp.read())["predictions"], dtype=np.float32)
            if resp.status != 200 or not np.array_equal(got, want):
                failures.append(f"thread {k}: {resp.status}")
                break
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures


@pytest.fixture(scope="module")
def impatient(artifacts, loader):
    settings = ServeSettings(port=0, request_timeout_s=0.5, max_connections=4)
    with create_server([artifacts.fp32_onnx], settings, loader=loader) as srv:
        yield srv


def test_silent_client_is_disconnected_and_others_are_served(impatient):
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as slow:
        slow.sendall(b"POST /v1/models/tiny-digits:predict HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
        conn = http.client.HTTPConnection("127.0.0.1", impatient.port, timeout=10)
        conn.request("GET", "/v2/health/ready")
        assert conn.getresponse().status == 200
        conn.close()
        reply = b""  # the socket's 10 s timeout fails the test if the server never closes
        while chunk := slow.recv(4096):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 408"), reply[:100]  # then closed by the server
        assert b"stopped arriving" in reply


def test_trickling_request_head_is_closed_at_its_deadline(impatient):
    """One header byte every 0.2 s (each well inside the 0.5 s timeout) must not hold the
    connection: the head has one deadline from its first byte."""
    head = b"GET /v2/health/live HTTP/1.1\r\nX-Slow: " + b"a" * 400
    closed_after = None
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as slow:
        for sent in range(len(head)):
            readable, _, _ = select.select([slow], [], [], 0.2)
            if readable:
                assert slow.recv(4096) == b""  # closed, no answer to half a request
                closed_after = sent
                break
            try:
                slow.sendall(head[sent : sent + 1])
            except OSError:  # reset by the closed connection
                closed_after = sent
                break
    assert closed_after is not None and closed_after < len(head), "never closed"
    conn = http.client.HTTPConnection("127.0.0.1", impatient.port, timeout=10)
    conn.request("GET", "/v2/health/live")  # the server still serves others
    assert conn.getresponse().status == 200
    conn.close()


def test_connections_beyond_the_limit_wait_then_get_served(impatient):
    idle = [socket.create_connection(("127.0.0.1", impatient.port)) for _ in range(4)]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", impatient.port, timeout=10)
        conn.request("GET", "/v2/health/live")  # queued until an idle one times out
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        for s in idle:
            s.close()


def test_head_returns_headers_only(http):
    status, headers, body = http("HEAD", "/v2")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
