"""gRPC with `edgeship serve --processes N`: every worker listens on the gRPC port
(SO_REUSEPORT) and serves tritonclient.grpc with the same answers as HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests
import tritonclient.grpc as tgrpc

from edgeship.netutil import free_port

from .cli_process import serve_env, start_serve_cli, stop


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes in LISTEN state on ``port`` (IPv4 and IPv6), from /proc/net."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def _wait_ready(url: str, grpc_address: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the banner comes before the workers have loaded
        try:
            http_ok = requests.get(url + "/v2/health/ready", timeout=5).status_code == 200
            client = tgrpc.InferenceServerClient(grpc_address)
            try:
                if http_ok and client.is_server_ready():
                    return
            finally:
                client.close()
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("the workers did not become ready")


def _grpc_infer(address: str, model: str, x: np.ndarray) -> tuple[np.ndarray, int]:
    """One request on a fresh channel (a new connection, which the kernel may give to any
    worker); returns the output and the model's inference count in that worker."""
    client = tgrpc.InferenceServerClient(address)
    try:
        meta = client.get_model_metadata(model)
        item = tgrpc.InferInput(meta.inputs[0].name, list(x.shape), "FP32")
        item.set_data_from_numpy(x)
        result = client.infer(model, [item])
        stats = client.get_inference_statistics(model).model_stats[0]
        return result.as_numpy(meta.outputs[0].name), int(stats.inference_count)
    finally:
        client.close()


def test_every_process_serves_grpc_with_the_answers_of_http(artifacts, engines):
    grpc_port = free_port()
    proc, info = start_serve_cli(
        str(artifacts.convert_dir), "--port", "0", "--grpc-port", str(grpc_port),
        "--processes", "2",
    )  # fmt: skip
    try:
        assert info["grpc"] == f"127.0.0.1:{grpc_port}"
        _wait_ready(info["url"], info["grpc"])
        workers = [p for p in _children(proc.pid) if b"spawn_main" in Path(
            f"/proc/{p}/cmdline").read_bytes()]  # fmt: skip
        assert len(workers) == 2
        # each worker holds its own listening socket on the gRPC port; the parent none
        deadline = time.monotonic() + 60  # one worker may still be loading
        while True:
            listening = _listening_inodes(grpc_port)
            held = [_socket_inodes(pid) & listening for pid in workers]
            if all(held) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert all(len(h) == 1 for h in held) and held[0] != held[1], (held, listening)
        assert not _socket_inodes(proc.pid) & listening

        x = artifacts.digits[:2]
        for model in ("tflite-fp32", "tflite-int8"):
            want = engines[model].predict(x)
            resp = requests.post(info["url"] + f"/v1/models/{model}:predict",
                                 json={"instances": x.tolist()}, timeout=10)  # fmt: skip
            assert resp.status_code == 200
            via_http = np.asarray(resp.json()["predictions"], np.float32)
            for _ in range(4):
                got, count = _grpc_infer(info["grpc"], model, x)
                np.testing.assert_array_equal(got, want)
                np.testing.assert_array_equal(got, via_http)
                assert count >= 2  # this worker's own statistics count this request
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not [p for p in workers if os.path.exists(f"/proc/{p}")]
        assert not _listening_inodes(grpc_port)
    finally:
        stop(proc)


def test_a_taken_grpc_port_stops_a_multi_process_server_before_it_starts(artifacts):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", str(artifacts.fp32_tflite),
               "--port", "0", "--grpc-port", str(port), "--processes", "2"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=serve_env())
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"Cannot listen for gRPC on 127.0.0.1:{port}: the port is taken" in done.stderr


def test_a_taken_grpc_port_is_one_clean_error_line(artifacts):
    """One process: the typed error alone, no gRPC library log line before it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", str(artifacts.fp32_tflite),
               "--port", "0", "--grpc-port", str(port)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=serve_env())
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert lines[-1] == (
        f"edgeship serve: error: Cannot listen for gRPC on 127.0.0.1:{port}: the port is taken."
    )
    # gRPC core logs as "E1207 01:50:34.535260 22803 add_port.cc:83] ..."
    assert not [line for line in lines if re.match(r"[EWI]\d{4} \d\d:\d\d:", line)], lines
