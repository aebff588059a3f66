"""gRPC as a process: `edgeship serve --grpc-port`, no TensorFlow, and a runtime-only numpy-2
install (``EDGESHIP_NUMPY2_PYTHON``, which `make test` builds with the ``serve`` extra)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as tgrpc

from edgeship.netutil import free_ports

from .cli_process import start_serve_cli, stop

SRC = Path(__file__).resolve().parents[2] / "src"
NUMPY2 = os.environ.get("EDGESHIP_NUMPY2_PYTHON")

# Serves the artifacts over gRPC in-process and calls it with edgeship's own message classes on
# a plain channel (no tritonclient), then reports what it imported.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import grpc, numpy as np
    from edgeship.serve import ServeSettings, create_server
    from edgeship.serve import grpc_messages as pb
    from edgeship.serve.grpc_server import GrpcServer
    x = np.load(sys.argv[2]).astype("<f4")
    out = {"numpy": np.__version__, "protobuf": __import__("google.protobuf").protobuf.__version__}
    srv = create_server([sys.argv[1]], ServeSettings(port=0))
    with GrpcServer(srv.app, srv.settings, port=0) as g, grpc.insecure_channel(g.address) as ch:
        infer = ch.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        for model in ("tflite-fp32", "onnx-fp32"):
            req = pb.ModelInferRequest(model_name=model)
            name = srv.app.registry.get(model).inputs[0].name
            req.inputs.add(name=name, datatype="FP32", shape=list(x.shape))
            req.raw_input_contents.append(x.tobytes())
            resp = infer(req, timeout=30)
            out[model] = np.frombuffer(resp.raw_output_contents[0], "<f4").tolist()
    srv.app.registry.close()
    out["heavy"] = [m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules]
    print(json.dumps(out))
    """
)


def _has_grpc(python: str) -> bool:
    code = "import grpc, google.protobuf, uvicorn, httptools"  # the serve extra
    return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0


def _pythons() -> list:
    pythons = [pytest.param(sys.executable, id="this-env")]
    if NUMPY2:
        ok = _has_grpc(NUMPY2)
        pythons.append(
            pytest.param(
                NUMPY2,
                id="numpy2-runtime-only",
                marks=pytest.mark.skipif(not ok, reason="numpy-2 env lacks the serve extra"),
            )
        )
    return pythons


@pytest.mark.parametrize("python", _pythons())
def test_grpc_serves_without_tensorflow(python, artifacts, engines, tmp_path):
    x = artifacts.digits[:3]
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH=str(SRC), TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        [python, "-c", SCRIPT, str(artifacts.convert_dir), str(tmp_path / "x.npy")],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == []
    for model in ("tflite-fp32", "onnx-fp32"):
        want = engines[model].predict(x)
        np.testing.assert_allclose(np.reshape(got[model], want.shape), want, rtol=1e-5, atol=1e-6)


BATCHING = "tflite-fp32:max_batch_size=4,max_queue_delay_microseconds=100"


def test_cli_serves_grpc_with_batching_and_model_control(artifacts, engines):
    for attempt in range(3):  # a free port can be taken by another socket before the bind
        http_port, port = free_ports(2)
        try:
            proc, info = start_serve_cli(
                str(artifacts.convert_dir), "--port", str(http_port), "--grpc-port", str(port),
                "--model-control", "explicit",
                "--dynamic-batching", BATCHING,
            )  # fmt: skip
            break
        except AssertionError as exc:
            if attempt == 2 or "Cannot listen" not in str(exc):
                raise
    try:
        assert info["grpc"] == f"127.0.0.1:{port}"
        client = tgrpc.InferenceServerClient(info["grpc"])
        config = client.get_model_config("tflite-fp32", as_json=True)["config"]
        assert int(config["max_batch_size"]) == 4 and "dynamic_batching" in config
        x = artifacts.digits[:2]
        inp = tgrpc.InferInput("image", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        result = client.infer("tflite-fp32", [inp])
        out = result.get_response().outputs[0].name
        np.testing.assert_array_equal(result.as_numpy(out), engines["tflite-fp32"].predict(x))
        client.unload_model("onnx-fp32")
        assert not client.is_model_ready("onnx-fp32")
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)


def test_cli_refuses_bad_grpc_and_batching_flags(artifacts):
    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", str(artifacts.fp32_onnx), *flags]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    out = run("--grpc-port", "70000")
    assert out.returncode == 1 and "--grpc-port must lie in [0, 65535] (0: off)" in out.stderr
    out = run("--grpc-port", "0", "--dynamic-batching", "max_batch=3")
    assert out.returncode == 1 and "expected [MODEL:]key=value" in out.stderr
