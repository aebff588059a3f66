"""The HTTP stack: readable 413s, graceful SIGTERM, a bounded load test with no crossed answers."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import requests

from .cli_process import start_serve_cli, stop

LIMIT = 1024 * 1024  # the session server's max_body_bytes


def _reply(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_body_without_expect_gets_a_readable_413(server, http):
    url = f"{server.url}/v2/models/tflite-fp32/infer"
    body = b"0" * (24 * LIMIT)
    with np.testing.assert_raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30)
    assert caught.exception.code == 413
    assert "exceeds the limit of 1048576" in json.loads(caught.exception.read())["error"]
    resp = requests.post(url, data=body, timeout=30)
    assert resp.status_code == 413 and "--max-body-mb" in resp.json()["error"]
    assert http("GET", "/v2/health/ready")[0] == 200


def test_expect_100_continue_is_refused_before_the_body_is_sent(server):
    head = (
        b"POST /v2/models/tflite-fp32/infer HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (2 * LIMIT)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)  # and never the body
        reply = _reply(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert b"100 Continue" not in reply


def test_a_body_within_the_limit_is_still_served_after_a_refusal(server, artifacts, engines):
    x = artifacts.digits[:3]
    doc = {"instances": x.tolist()}
    with requests.Session() as session:
        big = session.post(f"{server.url}/v1/models/tflite-fp32:predict", data=b" " * (2 * LIMIT))
        assert big.status_code == 413
        ok = session.post(f"{server.url}/v1/models/tflite-fp32:predict", json=doc, timeout=10)
    assert ok.status_code == 200
    got = np.asarray(ok.json()["predictions"], dtype=np.float32)
    np.testing.assert_array_equal(got, engines["tflite-fp32"].predict(x))


def _v2_request(name: str, x: np.ndarray, rid: str) -> bytes:
    item = {"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
    return json.dumps({"id": rid, "inputs": [item]}).encode()


def test_bounded_load_every_answer_is_its_own(server, artifacts, engines):
    """8 keep-alive clients x 40 requests, each with its own digit: zero errors, none crossed."""
    name = server.app.registry.get("onnx-fp32").inputs[0].name
    x_all = artifacts.digits
    want = engines["onnx-fp32"].predict(x_all)
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for i in range(40):
            row = (k * 40 + i) % len(x_all)
            rid = f"c{k}-r{i}"
            body = _v2_request(name, x_all[row : row + 1], rid)
            conn.request("POST", "/v2/models/onnx-fp32/infer", body)
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            got = np.asarray(doc["outputs"][0]["data"], np.float32) if resp.status == 200 else None
            if resp.status != 200 or doc.get("id") != rid or not np.array_equal(got, want[row]):
                with lock:
                    errors.append(f"{rid}: {resp.status} {str(doc)[:120]}")
                break
            with lock:
                done[0] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:5]
    assert done[0] == 8 * 40


def _start_cli(artifacts, *extra: str) -> tuple[subprocess.Popen[str], dict]:
    return start_serve_cli(str(artifacts.fp32_tflite), "--port", "0", "--grpc-port", "0", *extra)


def test_sigterm_finishes_the_request_in_flight_then_exits_0(artifacts, engines):
    proc, info = _start_cli(artifacts)
    try:
        port = int(info["url"].rsplit(":", 1)[1])
        x = artifacts.digits[5:6]
        body = json.dumps({"instances": x.tolist()}).encode()
        head = (
            b"POST /v1/models/tiny-digits:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(head % len(body) + body[:10])  # the request is in flight
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None, "exited with a request in flight"
            with np.testing.assert_raises(OSError):  # no new connections are accepted
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            sock.sendall(body[10:])
            reply = _reply(sock)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        doc = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        want = engines["tflite-fp32"].predict(x)
        np.testing.assert_array_equal(np.asarray(doc["predictions"], np.float32), want)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as f:
        return [int(p) for p in f.read().split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_processes_share_the_port_and_stop_on_sigterm(artifacts, engines):
    # HTTP only (gRPC across processes: test_grpc_processes.py)
    proc, info = start_serve_cli(
        str(artifacts.fp32_tflite), "--port", "0", "--grpc-port", "0", "--processes", "2"
    )
    assert info["grpc"] is None
    try:
        base = info["url"]
        x = artifacts.digits[:2]
        want = engines["tflite-fp32"].predict(x)
        for _ in range(100):  # the banner comes before the workers have loaded the model
            try:
                if requests.get(base + "/v2/health/ready", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        for _ in range(12):  # a fresh connection each time: the kernel spreads them
            resp = requests.post(base + "/v1/models/tiny-digits:predict",
                                 json={"instances": x.tolist()}, timeout=10)  # fmt: skip
            assert resp.status_code == 200
            got = np.asarray(resp.json()["predictions"], np.float32)
            np.testing.assert_array_equal(got, want)
        workers = [p for p in _children(proc.pid) if b"spawn_main" in _cmdline(p)]
        assert len(workers) == 2, [_cmdline(p) for p in _children(proc.pid)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not [p for p in workers if os.path.exists(f"/proc/{p}")]
    finally:
        stop(proc)


def test_processes_refuse_model_control(artifacts):
    base = [sys.executable, "-m", "edgeship.cli.main", "serve", str(artifacts.fp32_tflite),
            "--port", "0", "--processes", "2"]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    control = subprocess.run([*base, "--grpc-port", "0", "--model-control", "explicit"],
                             capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert control.returncode == 1 and "needs one process" in control.stderr


def test_processes_stopped_while_loading_still_exit_0(artifacts):
    proc, _ = _start_cli(artifacts, "--processes", "2")
    try:
        proc.send_signal(signal.SIGTERM)  # the workers are still starting
        assert proc.wait(timeout=60) == 0, proc.stderr.read()[-2000:] if proc.stderr else ""
    finally:
        stop(proc)


def test_start_raises_when_the_server_thread_dies_during_startup(artifacts, loader):
    from edgeship.serve import ServerStartError, ServeSettings, create_server

    srv = create_server([artifacts.fp32_onnx], ServeSettings(port=0), loader=loader)
    srv.socket.close()  # uvicorn cannot listen on it: its thread dies while starting
    try:
        with pytest.raises(ServerStartError, match="stopped before accepting") as info:
            srv.start()
        assert info.value.cause is not None
    finally:
        srv.app.registry.close()
