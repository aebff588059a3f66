"""Dynamic batching on vs off: MobileNetV2 served at 32 connections, over HTTP and gRPC.

MobileNetV2 (alpha 0.35, 96x96x3 input, 10 classes, random weights) is built locally and
converted to tflite-fp32 once (under runs/serve_batching/). Then, in alternating rounds,
``edgeship serve`` runs it in its own process with dynamic batching off and on
(``--dynamic-batching max_batch_size=8,max_queue_delay_microseconds=1000``), one engine each,
and two load generators hit it on loopback, one after the other:

* HTTP: ``wrk`` (native; ``apt-get install -y wrk``), KServe v2 binary request of one image,
  C keep-alive connections;
* gRPC: a multi-process Python grpcio client (P processes x T threads = C calls in flight), each
  call sends a pre-serialized ``ModelInferRequest`` with ``raw_input_contents`` and times the
  round trip; the client shares the server's cores, so its row is a lower bound.

Before timing, one HTTP and one gRPC answer are compared with the in-process engine. Reported:
medians over rounds of req/s (images/s), p50 and p99, and the non-2xx / failed count.

    python benchmarks/serve_batching.py                      # 3 rounds x 10 s, 32 connections
    python benchmarks/serve_batching.py --rounds 5 --seconds 15 --json runs/serve_batching.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.netutil import free_port

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (1, 96, 96, 3)
BATCHING = "max_batch_size=8,max_queue_delay_microseconds=1000"
LUA = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "{hlen}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {{"requests": %d, "seconds": %f, "non2xx": %d, "socket_errors": %d, '
    .. '"p50_ms": %f, "p99_ms": %f}}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
BUILD = """
import sys, keras, tensorflow as tf
keras.utils.set_random_seed(0)
model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                       classes=10)
data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
from edgeship.fileio import atomic_write_bytes
atomic_write_bytes(sys.argv[1], bytes(data))
"""


def build_model(out: Path) -> Path:
    """MobileNetV2 0.35 tflite-fp32 with random weights, built once in a child process."""
    path = out / "mobilenetv2-0.35-96.tflite"
    if not path.is_file():
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        subprocess.run([sys.executable, "-c", BUILD, str(path)], check=True, env=env)
    return path


def request_body(x: np.ndarray, in_name: str, out_name: str) -> tuple[bytes, int]:
    """A KServe v2 binary infer request for ``x``: JSON header + raw bytes, header length."""
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": in_name,
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": out_name, "parameters": {"binary_data": True}}],
        }
    ).encode()
    return head + x.astype("<f4").tobytes(), len(head)


class Served:
    """``edgeship serve`` in its own process; stopped with SIGTERM."""

    def __init__(self, model: Path, batching: bool, grpc_port: int) -> None:
        cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", str(model), "--port", "0",
               "--grpc-port", str(grpc_port), "--json"]  # fmt: skip
        if batching:
            cmd += ["--dynamic-batching", BATCHING]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        text = ""
        while True:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                raise RuntimeError("edgeship serve exited before printing its address")
            text += line
            try:
                info = json.loads(text)
                break
            except json.JSONDecodeError:
                continue
        self.url, self.grpc = info["url"], info["grpc"]
        self.model = info["models"][0]["name"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _io_names(url: str, model: str) -> tuple[str, str]:
    with urllib.request.urlopen(f"{url}/v2/models/{model}", timeout=30) as resp:
        meta = json.load(resp)
    return meta["inputs"][0]["name"], meta["outputs"][0]["name"]


def run_wrk(url: str, model: str, body: Path, hlen: int, conns: int, seconds: float) -> dict:
    """One wrk run; returns req/s, p50, p99 and error counts."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "infer.lua"
        script.write_text(LUA.format(body=body, hlen=hlen))
        cmd = ["wrk", "-t2", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s",
               str(script), f"{url}/v2/models/{model}/infer"]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.split("RESULT ", 1)[1])
    result["rps"] = result["requests"] / result["seconds"]
    result["failed"] = result.pop("non2xx") + result.pop("socket_errors")
    return result


def _grpc_worker(address: str, payload: bytes, threads: int, seconds: float, q: Any) -> None:
    import threading

    import grpc

    lat: list[float] = []
    failed = [0]
    lock = threading.Lock()
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        call(payload, timeout=30)  # connect

        def loop() -> None:
            mine: list[float] = []
            bad = 0
            end = time.perf_counter() + seconds
            while (start := time.perf_counter()) < end:
                try:
                    call(payload, timeout=30)
                    mine.append(time.perf_counter() - start)
                except grpc.RpcError:
                    bad += 1
            with lock:
                lat.extend(mine)
                failed[0] += bad

        pool = [threading.Thread(target=loop) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    q.put((lat, failed[0]))


def run_grpc(address: str, payload: bytes, procs: int, threads: int, seconds: float) -> dict:
    """P processes x T threads of blocking ModelInfer calls; returns req/s, p50, p99."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    workers = [ctx.Process(target=_grpc_worker, args=(address, payload, threads, seconds, q))
               for _ in range(procs)]  # fmt: skip
    for w in workers:
        w.start()
    results = [q.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join()
    lat = sorted(v for r in results for v in r[0])
    return {
        "requests": len(lat),
        "rps": len(lat) / seconds,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        "failed": sum(r[1] for r in results),
    }


def check_answers(served: Served, body: bytes, hlen: int, payload: bytes, want: np.ndarray) -> None:
    """One HTTP and one gRPC answer must equal the in-process engine's."""
    import grpc

    from edgeship.serve import grpc_messages as pb

    req = urllib.request.Request(
        f"{served.url}/v2/models/{served.model}/infer",
        data=body,
        headers={"Inference-Header-Content-Length": str(hlen)},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = resp.read()
        head = int(resp.headers["Inference-Header-Content-Length"])
    got_http = np.frombuffer(data[head:], "<f4").reshape(want.shape)
    with grpc.insecure_channel(served.grpc) as channel:
        raw = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")(payload)
    got_grpc = np.frombuffer(
        pb.ModelInferResponse.FromString(raw).raw_output_contents[0], "<f4"
    ).reshape(want.shape)
    np.testing.assert_allclose(got_http, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_grpc, want, rtol=1e-5, atol=1e-6)


def mean_batch(url: str, model: str) -> float:
    """Rows per model execution over the server's life (its statistics extension)."""
    with urllib.request.urlopen(f"{url}/v2/models/{model}/stats", timeout=30) as resp:
        stats = json.load(resp)["model_stats"][0]
    return stats["inference_count"] / max(1, stats["execution_count"])


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--grpc-procs", type=int, default=4)
    parser.add_argument("--out", default="runs/serve_batching", help="where the model is built")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "src"))
    from edgeship import runtime
    from edgeship.serve import grpc_messages as pb

    model = build_model(ROOT / args.out)
    x = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)
    with runtime.load(str(model)) as engine:
        want = engine.predict(x)
    tmp = Path(tempfile.mkdtemp())
    threads = max(1, args.connections // args.grpc_procs)
    rows: dict[str, list[dict]] = {}
    try:
        for r in range(args.rounds):
            for batching in (False, True):
                served = Served(model, batching, grpc_port=free_port())
                try:
                    in_name, out_name = _io_names(served.url, served.model)
                    body, hlen = request_body(x, in_name, out_name)
                    (tmp / "body.bin").write_bytes(body)
                    msg = pb.ModelInferRequest(model_name=served.model)
                    msg.inputs.add(name=in_name, datatype="FP32", shape=list(SHAPE))
                    msg.raw_input_contents.append(x.tobytes())
                    payload = msg.SerializeToString()
                    check_answers(served, body, hlen, payload, want)
                    run_wrk(served.url, served.model, tmp / "body.bin", hlen, args.connections, 2)
                    http = run_wrk(served.url, served.model, tmp / "body.bin", hlen,
                                   args.connections, args.seconds)  # fmt: skip
                    grpc_row = run_grpc(served.grpc, payload, args.grpc_procs, threads,
                                        args.seconds)  # fmt: skip
                    batch = mean_batch(served.url, served.model)
                    http["mean_batch"] = grpc_row["mean_batch"] = batch
                finally:
                    served.stop()
                mode = "on" if batching else "off"
                rows.setdefault(f"http-{mode}", []).append(http)
                rows.setdefault(f"grpc-{mode}", []).append(grpc_row)
                print(f"round {r + 1} batching {mode}: HTTP {http['rps']:.0f} req/s p99 "
                      f"{http['p99_ms']:.1f} ms; gRPC {grpc_row['rps']:.0f} req/s p99 "
                      f"{grpc_row['p99_ms']:.1f} ms", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    order = ("http-off", "http-on", "grpc-off", "grpc-on")
    summary = {
        key: {
            "rps": _median(v, "rps"),
            "p50_ms": _median(v, "p50_ms"),
            "p99_ms": _median(v, "p99_ms"),
            "failed": sum(r["failed"] for r in v),
            "mean_batch": _median(v, "mean_batch"),
            "rounds": v,
        }
        for key, v in sorted(rows.items(), key=lambda kv: order.index(kv[0]))
    }
    print()
    print(
        f"| client ({args.connections} in flight) | batching | req/s | p50 ms | p99 ms | "
        "mean batch | failed |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for key, s in summary.items():
        proto, mode = key.split("-")
        client = "wrk" if proto == "http" else f"gRPC, {args.grpc_procs} procs x {threads} threads"
        print(f"| {client} | {mode} | {s['rps']:.0f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
              f"{s['mean_batch']:.2f} | {s['failed']} |")  # fmt: skip
    for proto in ("http", "grpc"):
        on, off = summary[f"{proto}-on"], summary[f"{proto}-off"]
        print(f"{proto}: batching on/off req/s {on['rps'] / off['rps']:.2f}x, "
              f"p99 {on['p99_ms'] / off['p99_ms']:.2f}x")  # fmt: skip
    if args.json:
        from edgeship.fileio import atomic_write_json

        atomic_write_json(
            args.json,
            {
                "schema": "edgeship.bench.serve_batching/1",
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                "settings": vars(args) | {"batching": BATCHING, "shape": list(SHAPE)},
                "results": summary,
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
