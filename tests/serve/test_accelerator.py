"""``--accelerator`` on ``edgeship serve``: the openvino device and the litert-compiled
accelerator reach every engine, the startup banner and the model config name them, the served
answers are the engine's own on that device, and an accelerator that is absent or given to a
backend that takes none stops the server with a typed error."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from edgeship.errors import BackendError, ConfigError
from edgeship.runtime import available_backends, load
from edgeship.runtime.backends import BACKENDS
from edgeship.serve import ServeSettings, create_server
from serve.conftest import call

from .cli_process import serve_env, start_serve_cli, stop

CASES = [("openvino", "onnx-fp32.onnx", "cpu", "CPU"), ("litert-compiled", "tflite-int8.tflite",
         "CPU", "cpu")]  # fmt: skip


def _needs(backend: str) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed ({BACKENDS[backend].distributions[0]})")


def _infer_body(name: str, x: np.ndarray) -> bytes:
    tensor = {"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize(("backend", "file", "given", "device"), CASES)
def test_served_on_the_accelerator_as_its_engine(artifacts, backend, file, given, device):
    _needs(backend)
    path = artifacts.convert_dir / file
    x = artifacts.digits[:2]
    srv = create_server([path], ServeSettings(port=0), backend=backend, device=given, workers=2)
    with srv, load(str(path), backend=backend, device=given) as engine:
        [model] = list(srv.app.registry)
        assert (model.backend, model.device, engine.device) == (backend, device, device)
        assert all(e.device == device for e in model.engines)  # every worker's engine
        status, _, raw = call(srv, "GET", f"/v2/models/{model.name}/config")
        assert status == 200 and json.loads(raw)["device"] == device
        body = _infer_body(model.inputs[0].name, x)
        status, _, raw = call(srv, "POST", f"/v2/models/{model.name}/infer", body)
        assert status == 200, raw
        [out] = json.loads(raw)["outputs"]
        got = np.asarray(out["data"], np.float32).reshape(out["shape"])
        np.testing.assert_array_equal(got, engine.predict(x))


def test_no_device_no_config_entry(artifacts):
    with create_server([artifacts.fp32_tflite], ServeSettings(port=0)) as srv:
        [model] = list(srv.app.registry)
        assert model.device is None
        status, _, raw = call(srv, "GET", f"/v2/models/{model.name}/config")
        assert status == 200 and "device" not in json.loads(raw)


@pytest.mark.parametrize(("backend", "file", "given", "device"), CASES)
def test_cli_banner_names_the_accelerator_and_answers(artifacts, backend, file, given, device):
    _needs(backend)
    path = artifacts.convert_dir / file
    proc, info = start_serve_cli(str(path), "--port", "0", "--grpc-port", "0",
                                 "--backend", backend, "--accelerator", given)  # fmt: skip
    try:
        [model] = info["models"]
        assert (model["backend"], model["device"]) == (backend, device)
        x = artifacts.digits[:1]
        meta_url = f"{info['url']}/v2/models/{model['name']}"
        with urllib.request.urlopen(meta_url, timeout=10) as resp:
            name = json.loads(resp.read())["inputs"][0]["name"]
        request = urllib.request.Request(
            meta_url + "/infer", data=_infer_body(name, x), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            [out] = json.loads(resp.read())["outputs"]
        with load(str(path), backend=backend, device=given) as engine:
            np.testing.assert_array_equal(
                np.asarray(out["data"], np.float32).reshape(out["shape"]), engine.predict(x)
            )
    finally:
        stop(proc)


def test_cli_table_shows_backend_at_device(artifacts):
    _needs("openvino")
    path = artifacts.convert_dir / "onnx-fp32.onnx"
    cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", "--port", "0", "--grpc-port", "0",
           "--backend", "openvino", "--accelerator", "CPU",
           str(path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=serve_env())
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[1].split()[1:] == ["openvino@CPU", str(path)], lines
    finally:
        stop(proc)


def test_accelerator_on_a_backend_that_takes_none(artifacts):
    refused = r"device='GPU' applies to the openvino and litert-compiled backends, not 'litert'"
    with pytest.raises(ConfigError, match=refused + r". Pass backend='openvino'"):
        create_server(
            [artifacts.fp32_tflite], ServeSettings(port=0), backend="litert", device="GPU"
        )
    out = subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", "serve", str(artifacts.fp32_tflite),
         "--port", "0", "--grpc-port", "0", "--accelerator", "gpu"],
        capture_output=True, text=True, timeout=120, env=serve_env(),
    )  # fmt: skip
    assert out.returncode == 1
    assert "device='gpu' applies to the openvino and litert-compiled backends" in out.stderr


def test_absent_accelerator_stops_the_server(artifacts):
    _needs("litert-compiled")
    # No CI machine has a LiteRT GPU/NPU accelerator: the model is compiled for it alone.
    with pytest.raises(BackendError, match=r"LiteRT accelerator 'npu' cannot run .*device='cpu'"):
        create_server(
            [artifacts.int8_tflite], ServeSettings(port=0), backend="litert-compiled", device="npu"
        )
    with pytest.raises(ConfigError, match=r"Unknown LiteRT accelerator 'AUTO'. Expected one of"):
        create_server(
            [artifacts.int8_tflite], ServeSettings(port=0), backend="litert-compiled", device="AUTO"
        )
