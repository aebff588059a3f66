"""`edgeship serve` against a bare Starlette + uvicorn endpoint, driven by wrk (native).

One command, one run, same machine: each server runs in its own process on 127.0.0.1 and
serves the digits CNN (``tflite-fp32``); ``wrk`` sends the same batch-1 KServe v2 JSON
``infer`` request over C keep-alive connections. The rounds alternate the servers (ABBA),
and the table gives medians of req/s and p99 and the ratios edgeship / bare.

* ``edgeship``: ``edgeship serve MODEL`` as users run it (full validation, metrics, auth
  check, uvicorn + httptools + uvloop behind :mod:`edgeship.serve.asgi`);
* ``bare``: a Starlette endpoint on uvicorn + httptools + uvloop that only parses the JSON,
  sets the tensor, invokes the interpreter and encodes the output as JSON: the floor;
* ``granian``: the same edgeship App and adapter behind granian (the other candidate);
* rows for the KServe v2 binary tensor extension and TF Serving REST (edgeship only).

Before the load, each server's answer is checked against the interpreter's own output.

    python benchmarks/serve_http.py                        # 3 rounds x 5 s per cell
    python benchmarks/serve_http.py --rounds 5 --seconds 8 --json runs/serve_http.json

Needs ``wrk`` (``apt-get install wrk``) and starlette (``pip install starlette``); granian is
optional. Without ``--model``, the digits CNN is trained and converted once under
runs/serve_bench/ (see serve_load.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

from edgeship.fileio import atomic_write_json
from edgeship.netutil import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _interpreter(model_path: str) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=model_path, num_threads=1)
    interp.allocate_tensors()
    return interp


def bare_app(model_path: str) -> Any:
    """The floor's ASGI app: a Starlette endpoint doing parse -> invoke -> JSON only."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    interp = _interpreter(model_path)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    name = out["name"]

    async def infer(request: Request) -> Response:
        doc = json.loads(await request.body())
        tensor = doc["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"])
        body = {"model_name": "bare", "model_version": "1", "outputs": [
            {"name": name, "datatype": "FP32", "shape": list(y.shape), "data": y.ravel().tolist()}
        ]}  # fmt: skip
        return Response(json.dumps(body), media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b"")

    return Starlette(routes=[Route("/v2/models/{m}/infer", infer, methods=["POST"]),
                             Route("/v2/health/ready", ready)])  # fmt: skip


def run_bare(model_path: str, port: int) -> None:
    """The floor: the Starlette endpoint of :func:`bare_app` on uvicorn + httptools + uvloop."""
    import uvicorn

    uvicorn.run(bare_app(model_path), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")  # fmt: skip


def granian_app() -> Any:
    """ASGI factory for granian: the edgeship App and adapter, model from the environment."""
    from edgeship.serve import App, ServeSettings, load_registry
    from edgeship.serve.asgi import AsgiAdapter

    registry = load_registry([os.environ["EDGESHIP_BENCH_MODEL"]])
    return AsgiAdapter(App(registry), ServeSettings())


def start(kind: str, model: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", EDGESHIP_BENCH_MODEL=str(model))
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), str(Path(__file__).parent), env.get("PYTHONPATH")])
    )
    if kind.startswith("edgeship"):
        cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", str(model), "--port", str(port),
               "--grpc-port", str(free_port())]  # fmt: skip
        if kind.startswith("edgeship-p"):  # edgeship-pN: N server processes
            cmd += ["--processes", kind.removeprefix("edgeship-p")]
    elif kind == "bare":
        cmd = [sys.executable, __file__, "--run-bare", str(model), "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--loop", "uvloop", "--no-ws", "--log-level", "warning",
               "serve_http:granian_app"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the {kind} server did not start")


def payloads(model: Path, x: np.ndarray) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """(path, body, headers) per protocol, for the model served under the name 'm'."""
    interp = _interpreter(str(model))
    in_name, out_name = (
        interp.get_input_details()[0]["name"],
        interp.get_output_details()[0]["name"],
    )
    item = {"name": in_name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
    v2_json = json.dumps({"inputs": [item]}).encode()
    head = json.dumps({
        "inputs": [{"name": in_name, "shape": list(x.shape), "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes}}],
        "outputs": [{"name": out_name, "parameters": {"binary_data": True}}],
    }).encode()  # fmt: skip
    return {
        "v2-json": ("/v2/models/{m}/infer", v2_json, {"Content-Type": "application/json"}),
        "v2-binary": ("/v2/models/{m}/infer", head + x.astype("<f4").tobytes(),
                      {"Inference-Header-Content-Length": str(len(head)),
                       "Content-Type": "application/octet-stream"}),
        "tfserving": ("/v1/models/{m}:predict", json.dumps({"instances": x.tolist()}).encode(), {}),
    }  # fmt: skip


def served_name(port: int) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/repository/index", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return str(json.load(resp)[0]["name"])
    except OSError:
        return "bare"


def check_answer(port: int, path: str, body: bytes, headers: dict[str, str], want: np.ndarray):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = resp.read()
        hlen = resp.headers.get("Inference-Header-Content-Length")
    if hlen is not None:
        got = np.frombuffer(data[int(hlen) :], "<f4")
    else:
        doc = json.loads(data)
        got = np.asarray(doc["outputs"][0]["data"] if "outputs" in doc else doc["predictions"])
    if not np.allclose(got.ravel(), want.ravel(), atol=1e-6):
        raise RuntimeError(f"wrong answer from port {port}{path}: {got} vs {want}")


def wrk(port: int, path: str, body: bytes, headers: dict[str, str], conns: int, seconds: int,
        tmp: Path) -> dict[str, Any]:  # fmt: skip
    (tmp / "body.bin").write_bytes(body)
    lua = tmp / "post.lua"
    lines = ['wrk.method = "POST"', f'local f = io.open("{tmp / "body.bin"}", "rb")',
             "wrk.body = f:read('*a')", "f:close()"]  # fmt: skip
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lua.write_text("\n".join(lines) + "\n")
    cmd = ["wrk", "-t", "2", "-c", str(conns), "-d", f"{seconds}s", "--timeout", "10s",
           "--latency", "-s", str(lua),
           f"http://127.0.0.1:{port}{path}"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if "Requests/sec:" not in out:
        raise RuntimeError(f"wrk failed: {done.stderr[-500:]} {out[-500:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * scale[p50.group(2)] if p50 else None,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(v) for v in errs.groups()) if errs else 0,
        "socket_error_kinds": errs.group(0) if errs else "",
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(c)) for c in children)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process and all its descendants (Linux /proc), in MiB."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return round(total / 1024 + sum(rss_mib(int(c)) or 0.0 for c in children), 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=None, help="tflite model (default: digits CNN fp32)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", default="8,128")
    p.add_argument("--no-granian", action="store_true", help="skip the granian candidate")
    p.add_argument("--processes", type=int, default=0, help="add edgeship --processes N")
    p.add_argument("--main-only", action="store_true", help="only v2 JSON: edgeship vs bare")
    p.add_argument("--json", default=None, help="write the raw and summary results here")
    p.add_argument("--summarize", default=None, help="print the table of a saved --json file")
    p.add_argument("--run-bare", default=None, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run_bare:
        run_bare(args.run_bare, args.port)
        return 0
    if args.summarize:
        doc = json.loads(Path(args.summarize).read_text())
        runs = doc["runs"]
        cells = list(dict.fromkeys((r["server"], r["protocol"]) for r in runs))
        conns = sorted({r["connections"] for r in runs})
        print_table(summarize(runs, cells, conns), doc.get("rss_mib", {}))
        return 0
    if shutil.which("wrk") is None:
        print("serve_http: needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    from serve_load import digit_inputs, prepare_model

    model = Path(args.model) if args.model else prepare_model(ROOT / "runs" / "serve_bench")
    x = digit_inputs(1)
    interp = _interpreter(str(model))
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    want = interp.get_tensor(interp.get_output_details()[0]["index"])
    bodies = payloads(model, x)
    kinds = ["edgeship", "bare"] + ([] if args.no_granian else ["granian"])
    kinds += [f"edgeship-p{args.processes}"] if args.processes > 1 else []
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    runs: list[dict[str, Any]] = []
    conns_list = [int(c) for c in args.connections.split(",")]
    try:
        for kind in kinds:
            ports[kind] = free_port()
            procs[kind] = start(kind, model, ports[kind])
        names = {k: served_name(port) for k, port in ports.items()}
        cells = []  # (server, protocol)
        for kind in kinds:
            cells.append((kind, "v2-json"))
        if not args.main_only:
            cells += [("edgeship", "v2-binary"), ("edgeship", "tfserving")]
        for kind, proto in cells:
            path, body, headers = bodies[proto]
            check_answer(ports[kind], path.format(m=names[kind]), body, headers, want)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                order = cells if r % 2 == 0 else cells[::-1]
                for conns in conns_list:
                    for kind, proto in order:
                        path, body, headers = bodies[proto]
                        cpu0 = cpu_seconds(procs[kind].pid)
                        res = wrk(ports[kind], path.format(m=names[kind]), body, headers, conns,
                                  args.seconds, Path(tmp))  # fmt: skip
                        cpu = cpu_seconds(procs[kind].pid) - cpu0
                        res["server_cpu_us_per_req"] = round(
                            cpu / (res["rps"] * args.seconds) * 1e6, 1
                        )
                        res.update(server=kind, protocol=proto, connections=conns, round=r)
                        runs.append(res)
                        print(json.dumps(res), flush=True)
        rss = {k: rss_mib(proc.pid) for k, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
    summary = summarize(runs, cells, conns_list)
    print_table(summary, rss)
    if args.json:
        doc = {"schema": "edgeship.bench.serve_http/1", "runs": runs, "summary": summary,
               "rss_mib": rss, "model": str(model)}  # fmt: skip
        atomic_write_json(Path(args.json), doc)
    return 0


def summarize(runs: list[dict[str, Any]], cells: list[tuple[str, str]], conns_list: list[int]):
    out = []
    for conns in conns_list:
        base = None
        for kind, proto in cells:
            sel = [r for r in runs if (r["server"], r["protocol"], r["connections"])
                   == (kind, proto, conns)]  # fmt: skip
            row = {"server": kind, "protocol": proto, "connections": conns,
                   "rps": statistics.median(r["rps"] for r in sel),
                   "p50_ms": statistics.median(r["p50_ms"] for r in sel),
                   "p99_ms": statistics.median(r["p99_ms"] for r in sel),
                   "errors": sum(r["non_2xx"] + r["socket_errors"] for r in sel),
                   "rounds_rps": [round(r["rps"]) for r in sel],
                   "cpu_us_per_req": statistics.median(r.get("server_cpu_us_per_req", 0)
                                                       for r in sel)}  # fmt: skip
            if (kind, proto) == ("bare", "v2-json"):
                base = row
            out.append(row)
        for row in out:
            if row["connections"] == conns and base is not None:
                row["rps_vs_bare"] = round(row["rps"] / base["rps"], 3)
                row["p99_vs_bare"] = round(row["p99_ms"] / base["p99_ms"], 3)
                row.update(paired_ratios(runs, row["server"], row["protocol"], conns))
    return out


def paired_ratios(runs: list[dict[str, Any]], kind: str, proto: str, conns: int):
    """Median over rounds of (this cell / bare v2-json in the same round): robust to a
    machine whose load changes from one round to the next."""
    rps, p99 = [], []
    for r in sorted({run["round"] for run in runs}):
        mine = [x for x in runs if (x["server"], x["protocol"], x["connections"], x["round"])
                == (kind, proto, conns, r)]  # fmt: skip
        bare = [x for x in runs if (x["server"], x["protocol"], x["connections"], x["round"])
                == ("bare", "v2-json", conns, r)]  # fmt: skip
        if mine and bare:
            rps.append(mine[0]["rps"] / bare[0]["rps"])
            p99.append(mine[0]["p99_ms"] / bare[0]["p99_ms"])
    if not rps:
        return {}
    return {"paired_rps_vs_bare": round(statistics.median(rps), 3),
            "paired_p99_vs_bare": round(statistics.median(p99), 3),
            "paired_rps_rounds": [round(v, 2) for v in rps]}  # fmt: skip


def print_table(summary: list[dict[str, Any]], rss: dict[str, float | None]) -> None:
    print("\n| server | protocol | conns | req/s (median) | p50 ms | p99 ms "
          "| req/s vs bare (paired) | p99 vs bare (paired) | server CPU µs/req | errors "
          "| req/s per round |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in summary:
        rps_x, p99_x = r.get("paired_rps_vs_bare", 0), r.get("paired_p99_vs_bare", 0)
        print(f"| {r['server']} | {r['protocol']} | {r['connections']} | {r['rps']:,.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {rps_x:.2f}x | {p99_x:.2f}x | "
              f"{r['cpu_us_per_req']:.0f} | {r['errors']} | {r['rounds_rps']} |")  # fmt: skip
    print("\nRSS after the runs (MiB):", rss)


if __name__ == "__main__":
    sys.exit(main())
