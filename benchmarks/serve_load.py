"""Loopback load test of `edgeship serve`, and the server-stack comparison behind it.

Starts the server in its own process on 127.0.0.1, then C client connections (spread over a
few processes, HTTP/1.1 keep-alive) each send R requests and time every one. Each client sends
a different digit and checks that every response is byte-identical to the one the in-process
App gives for that digit, so "zero errors" also means "no request saw another's tensors".
Beside it: the same model's in-process latency (Engine.predict, and App.handle without HTTP).

    python benchmarks/serve_load.py                       # 16 clients x 2000, KServe v2 binary
    python benchmarks/serve_load.py --protocol v1-json --json runs/serve_load.json
    python benchmarks/serve_load.py --compare-stacks --candidates /tmp/serve_candidates

``--compare-stacks`` runs the same load against ``edgeship serve`` (stack ``edgeship``:
uvicorn + httptools + uvloop behind edgeship's own ASGI adapter) and against uvicorn +
starlette serving the very same App (stack ``starlette``; install starlette into the
``--candidates`` directory with ``pip install --target DIR starlette``; it is not a dependency).
Without ``--model``, the digits CNN is trained and converted (tflite-fp32) once under
runs/serve_bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 50


def prepare_model(out: Path) -> Path:
    """Train the digits CNN and convert it to tflite-fp32 once; return the artifact path."""
    artifact = out / "artifacts" / "tflite-fp32.tflite"
    if artifact.is_file():
        return artifact
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edgeship.convert import convert
    from edgeship.train import TrainConfig, train

    result = train(TrainConfig(recipe="mnist-cnn", dataset="digits", epochs=6, batch_size=64,
                               out=str(out / "model"), seed=0, verbose=0))  # fmt: skip
    convert(result.model_path, out / "artifacts", variants=("tflite-fp32",), force=True)
    return artifact


def digit_inputs(n: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    images = load_digits().images[:n].astype(np.float32) / 16.0
    return np.ascontiguousarray(images[..., None])


def build_payload(protocol: str, in_name: str, out_name: str, x: np.ndarray):
    """Return (path suffix, body, headers) for one batch-1 request."""
    if protocol == "v1-json":
        return ":predict", json.dumps({"instances": x.tolist()}).encode(), {}
    if protocol == "v2-json":
        doc = {"inputs": [{"name": in_name, "shape": list(x.shape), "datatype": "FP32",
                           "data": x.ravel().tolist()}]}  # fmt: skip
        return "/infer", json.dumps(doc).encode(), {"Content-Type": "application/json"}
    head = json.dumps(
        {"inputs": [{"name": in_name, "shape": list(x.shape), "datatype": "FP32",
                     "parameters": {"binary_data_size": x.nbytes}}],
         "outputs": [{"name": out_name, "parameters": {"binary_data": True}}]}
    ).encode()  # fmt: skip
    headers = {"Inference-Header-Content-Length": str(len(head)),
               "Content-Type": "application/octet-stream"}  # fmt: skip
    return "/infer", head + x.astype("<f4").tobytes(), headers


def _client(args: tuple[Any, ...]) -> tuple[list[int], int, int]:
    port, path, jobs, n, start_at = args
    import threading

    results: list[tuple[list[int], int]] = []
    lock = threading.Lock()

    def one(body: bytes, headers: dict[str, str], expected: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lat, errors = [], 0
        for _ in range(WARMUP):
            conn.request("POST", path, body, headers)
            conn.getresponse().read()
        while time.time() < start_at:
            time.sleep(0.0005)
        for _ in range(n):
            t0 = time.perf_counter_ns()
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and data == expected
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            lat.append(time.perf_counter_ns() - t0)
            errors += 0 if ok else 1
        conn.close()
        with lock:
            results.append((lat, errors))

    threads = [threading.Thread(target=one, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.perf_counter_ns()
    lat = [v for r in results for v in r[0]]
    return lat, sum(r[1] for r in results), end


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_load(
    port: int,
    model: str,
    protocol: str,
    clients: int,
    requests: int,
    procs: int,
    meta: dict[str, Any],
    expected: list[bytes],
) -> dict[str, Any]:
    suffix = build_payload(protocol, meta["in"], meta["out"], meta["x"][:1])[0]
    prefix = "/v1/models/" if protocol == "v1-json" else "/v2/models/"
    path = prefix + model + suffix
    jobs: list[list[tuple[bytes, dict[str, str], bytes]]] = [[] for _ in range(procs)]
    for c in range(clients):
        _, body, headers = build_payload(protocol, meta["in"], meta["out"], meta["x"][c : c + 1])
        jobs[c % procs].append((body, headers, expected[c]))
    start_wall = time.time() + 2.0 + 0.05 * clients
    t0 = time.perf_counter_ns() + int((start_wall - time.time()) * 1e9)
    with mp.get_context("fork").Pool(procs) as pool:
        parts = pool.map(_client, [(port, path, j, requests, start_wall) for j in jobs])
    latencies = [v / 1000 for p in parts for v in p[0]]
    errors = sum(p[1] for p in parts)
    wall = (max(p[2] for p in parts) - t0) / 1e9
    return {
        "protocol": protocol, "clients": clients, "requests_per_client": requests,
        "total": len(latencies), "errors": errors, "seconds": round(wall, 3),
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_us": round(pct(latencies, 50), 1), "p90_us": round(pct(latencies, 90), 1),
        "p99_us": round(pct(latencies, 99), 1), "max_us": round(max(latencies), 1),
    }  # fmt: skip


def in_process(model_path: Path, protocol: str, meta: dict[str, Any], n: int = 5000):
    """Latency of Engine.predict and of App.handle (no HTTP) at batch 1, in microseconds."""
    from edgeship.runtime import load
    from edgeship.serve import App, load_registry
    from edgeship.serve.protocol import Request

    x = meta["x"][:1]
    engine = load(str(model_path))
    times = []
    for i in range(n + 200):
        t0 = time.perf_counter_ns()
        engine.predict(x)
        if i >= 200:
            times.append((time.perf_counter_ns() - t0) / 1000)
    app = App(load_registry([model_path]))
    name = app.registry.names[0]
    suffix, body, headers = build_payload(protocol, meta["in"], meta["out"], x)
    prefix = "/v1/models/" if protocol == "v1-json" else "/v2/models/"
    req = Request("POST", prefix + name + suffix, {}, {k.lower(): v for k, v in headers.items()},
                  body)  # fmt: skip
    app_times = []
    for i in range(n + 200):
        t0 = time.perf_counter_ns()
        app.handle(req)
        if i >= 200:
            app_times.append((time.perf_counter_ns() - t0) / 1000)
    return {
        "engine_predict_p50_us": round(statistics.median(times), 2),
        "engine_predict_p99_us": round(pct(times, 99), 2),
        "app_handle_p50_us": round(statistics.median(app_times), 2),
        "app_handle_p99_us": round(pct(app_times, 99), 2),
    }


def expected_bodies(model_path: Path, protocol: str, meta: dict[str, Any], clients: int):
    from edgeship.serve import App, load_registry
    from edgeship.serve.protocol import Request

    app = App(load_registry([model_path]))
    name = app.registry.names[0]
    prefix = "/v1/models/" if protocol == "v1-json" else "/v2/models/"
    out = []
    for c in range(clients):
        suffix, body, headers = build_payload(
            protocol, meta["in"], meta["out"], meta["x"][c : c + 1]
        )
        req = Request("POST", prefix + name + suffix, {},
                      {k.lower(): v for k, v in headers.items()}, body)  # fmt: skip
        out.append(app.handle(req).body)
    return name, out


def start_server(stack: str, model_path: Path, port: int, candidates: str | None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), candidates]))
    if stack == "edgeship":
        cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", str(model_path),
               "--port", str(port)]  # fmt: skip
    else:
        cmd = [sys.executable, __file__, "--run-asgi", str(model_path), "--port", str(port)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1):
                return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{stack} server did not start")


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median throughput and latency per (stack, protocol) over the rounds."""
    out = []
    for key in sorted({(r["stack"], r["protocol"]) for r in runs}):
        sel = [r for r in runs if (r["stack"], r["protocol"]) == key]
        row: dict[str, Any] = {"stack": key[0], "protocol": key[1], "rounds": len(sel)}
        for field in ("throughput_rps", "p50_us", "p99_us", "server_peak_rss_mib"):
            values = [r[field] for r in sel if r[field] is not None]
            row[field] = round(statistics.median(values), 1) if values else None
        row["errors"] = sum(r["errors"] for r in sel)
        out.append(row)
    return out


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory of a process (Linux /proc), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_asgi(model_path: str, port: int) -> None:
    """Serve the same App through uvicorn + starlette (the measured alternative)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request as SRequest
    from starlette.responses import Response as SResponse
    from starlette.routing import Route

    from edgeship.serve import App, load_registry
    from edgeship.serve.protocol import Request

    app = App(load_registry([model_path]))

    async def endpoint(request: SRequest) -> SResponse:
        body = await request.body()
        req = Request(request.method, request.url.path, dict(request.query_params),
                      {k.lower(): v for k, v in request.headers.items()}, body)  # fmt: skip
        resp = app.handle(req)  # microseconds of CPU work: no thread hop
        return SResponse(resp.body, resp.status, resp.headers, media_type=resp.content_type)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    web = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    loop = "uvloop" if _has("uvloop") else "asyncio"
    http_impl = "httptools" if _has("httptools") else "h11"
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="warning", loop=loop,
                http=http_impl, access_log=False)  # fmt: skip


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def versions(candidates: str | None) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "ai-edge-litert", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    if candidates:
        for dist in metadata.distributions(path=[candidates]):
            out[dist.metadata["Name"]] = dist.version
    return out


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, help="artifact to serve (default: the digits CNN)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=2000, help="requests per client")
    p.add_argument(
        "--procs", type=int, default=min(4, os.cpu_count() or 1), help="client processes"
    )
    p.add_argument("--protocol", choices=("v2-binary", "v2-json", "v1-json"), default="v2-binary")
    p.add_argument("--stack", choices=("edgeship", "starlette"), default="edgeship")
    p.add_argument("--compare-stacks", action="store_true", help="run edgeship and starlette")
    p.add_argument("--candidates", default=None, help="directory holding starlette")
    p.add_argument("--rounds", type=int, default=1, help="repeat (stacks alternate order)")
    p.add_argument("--port", type=int, default=18431)
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--run-asgi", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run_asgi:
        run_asgi(args.run_asgi, args.port)
        return 0
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 100000):
        p.error("--clients must be 1..256 and --requests 1..100000")
    model_path = args.model or prepare_model(ROOT / "runs" / "serve_bench")
    from edgeship.runtime import load

    with load(str(model_path)) as engine:
        meta = {"in": engine.inputs[0].name, "out": engine.outputs[0].name,
                "x": digit_inputs(args.clients)}  # fmt: skip
    stacks = ["edgeship", "starlette"] if args.compare_stacks else [args.stack]
    protocols = [args.protocol]
    record: dict[str, Any] = {
        "model": str(model_path), "cpus": os.cpu_count(), "machine": platform.machine(),
        "versions": versions(args.candidates), "in_process": {}, "load": [],
    }  # fmt: skip
    for protocol in protocols:
        name, expected = expected_bodies(model_path, protocol, meta, args.clients)
        record["in_process"][protocol] = in_process(model_path, protocol, meta)
        for r in range(args.rounds):
            for stack in stacks if r % 2 == 0 else stacks[::-1]:  # ABBA: fair on a noisy box
                proc, startup = start_server(stack, model_path, args.port, args.candidates)
                try:
                    res = run_load(
                        args.port, name, protocol, args.clients, args.requests,
                        args.procs, meta, expected,
                    )  # fmt: skip
                    rss = peak_rss_mib(proc.pid)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                res.update(stack=stack, startup_s=round(startup, 2), server_peak_rss_mib=rss)
                record["load"].append(res)
                print(json.dumps(res), flush=True)
    record["summary"] = summarize(record["load"])
    print(json.dumps(record["summary"]), flush=True)
    print(json.dumps(record["in_process"]), flush=True)
    if args.json:
        from edgeship.fileio import atomic_write_json

        atomic_write_json(args.json, record)
    return 1 if any(r["errors"] for r in record["load"]) else 0


if __name__ == "__main__":
    sys.exit(main())
