"""Model control: index, load and unload by name with tritonclient (HTTP and gRPC), never a
path outside the model repository, off unless asked for."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from edgeship.serve import DiscoveryPolicy, ServeSettings, create_server
from edgeship.serve.grpc_server import GrpcServer
from edgeship.serve.model_control import ModelControl
from edgeship.serve.protocol import HttpError

IN = "serving_default_image:0"
#: A repository of artifacts dropped in by hand: no manifest vouches for them.
UNVERIFIED_OK = DiscoveryPolicy(allow_no_manifest=True)


@pytest.fixture(scope="module")
def repo(artifacts, loader, tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    shutil.copy(artifacts.fp32_tflite, root / "alpha.tflite")
    shutil.copy(artifacts.fp32_onnx, root / "beta.onnx")
    settings = ServeSettings(port=0)
    with (
        create_server(
            [root], settings, loader=loader, model_control="explicit", discovery=UNVERIFIED_OK
        ) as srv,
        GrpcServer(srv.app, settings, port=0) as grpc_srv,
    ):
        h = thttp.InferenceServerClient(f"127.0.0.1:{srv.port}", connection_timeout=10)
        g = tgrpc.InferenceServerClient(grpc_srv.address)
        yield root, srv, h, g
        h.close()
        g.close()


def _states(client) -> dict[str, str]:
    if isinstance(client, tgrpc.InferenceServerClient):
        index = client.get_model_repository_index(as_json=True).get("models", [])
    else:
        index = client.get_model_repository_index()
    return {m["name"]: m["state"] for m in index}


def test_unload_then_load_over_http_and_grpc(repo, engines, artifacts, http_on):
    _, srv, h, g = repo
    x = artifacts.digits[:2]
    out = srv.app.registry.get("alpha").outputs[0].name
    assert _states(h) == {"alpha": "READY", "beta": "READY"}
    inp = thttp.InferInput(IN, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    h.infer("alpha", [inp])  # the server now knows this route (it caches routes)
    h.unload_model("alpha")
    assert _states(h) == {"alpha": "UNAVAILABLE", "beta": "READY"}
    assert [m["name"] for m in h.get_model_repository_index()] == ["alpha", "beta"]
    assert not h.is_model_ready("alpha") and not g.is_model_ready("alpha")
    with pytest.raises(InferenceServerException, match="Unknown model 'alpha'"):
        h.infer("alpha", [inp])
    assert b"edgeship_models_loaded 1" in http_on(srv)("GET", "/metrics")[2]
    g.load_model("alpha")
    assert g.is_model_ready("alpha")
    np.testing.assert_array_equal(
        h.infer("alpha", [inp]).as_numpy(out), engines["tflite-fp32"].predict(x)
    )
    assert srv.app.registry.get("alpha").stats.execution_count == 1  # the new model ran it
    g.unload_model("beta")
    assert _states(g) == {"alpha": "READY", "beta": "UNAVAILABLE"}
    h.load_model("beta")
    assert _states(g) == {"alpha": "READY", "beta": "READY"}


def test_a_new_artifact_in_the_repository_can_be_loaded_and_a_load_reloads(repo, artifacts):
    root, srv, h, _ = repo
    shutil.copy(artifacts.fp32_tflite, root / "gamma.tflite")
    try:
        assert _states(h)["gamma"] == "UNAVAILABLE"
        h.load_model("gamma")
        assert h.is_model_ready("gamma")
        first = srv.app.registry.get("gamma")
        h.load_model("gamma")  # reload: a fresh model replaces the old one
        assert srv.app.registry.get("gamma") is not first and not first.engines
    finally:
        h.unload_model("gamma")
        (root / "gamma.tflite").unlink()
    assert "gamma" not in _states(h)


def test_names_that_are_paths_and_artifacts_outside_are_refused(repo, artifacts, http_on):
    root, srv, h, g = repo
    call = http_on(srv)
    for name in ("..%2F..%2Fetc%2Fpasswd", "%2Ftmp%2Fx.tflite", "..", "a%00b"):
        status, _, body = call("POST", f"/v2/repository/models/{name}/load")
        assert status == 400 and b"never by a path" in body, (name, status, body)
    with pytest.raises(InferenceServerException, match="never by a path") as exc:
        g.load_model("../../etc/passwd")
    assert exc.value.status() == "StatusCode.INVALID_ARGUMENT"
    (root / "evil.tflite").symlink_to(artifacts.fp32_tflite)  # lies outside the repository
    try:
        assert _states(h)["evil"] == "UNAVAILABLE"
        with pytest.raises(InferenceServerException, match="outside the model repository"):
            h.load_model("evil")
        with pytest.raises(InferenceServerException, match="outside the model repository") as exc:
            g.load_model("evil")
        assert exc.value.status() == "StatusCode.PERMISSION_DENIED"
        assert srv.app.registry.get("evil") is None
    finally:
        (root / "evil.tflite").unlink()


def test_bad_load_and_unload_requests(repo, http_on):
    _, srv, h, g = repo
    with pytest.raises(InferenceServerException, match="No model 'nope' in the model repository"):
        h.load_model("nope")
    with pytest.raises(InferenceServerException, match="Uploading model files is not supported"):
        h.load_model("alpha", config="{}", files={"file:1/model.tflite": b"\0" * 8})
    with pytest.raises(InferenceServerException, match="'config' is not supported"):
        g.load_model("alpha", config='{"max_batch_size": 8}')
    with pytest.raises(InferenceServerException, match="Model 'nope' is not loaded") as exc:
        g.unload_model("nope")
    assert exc.value.status() == "StatusCode.NOT_FOUND"
    call = http_on(srv)
    assert call("POST", "/v2/repository/models/alpha/load", b"[1]")[0] == 400
    assert call("GET", "/v2/repository/models/alpha/load")[0] == 405
    assert call("POST", "/v2/repository/models/alpha/reload")[0] == 404
    status, _, body = call(
        "POST", "/v2/repository/models/alpha/unload", b'{"parameters": {"x": 1}}'
    )
    assert status == 400 and b"Unknown unload parameters ['x']" in body
    assert srv.app.registry.get("alpha") is not None


def test_unload_lets_a_running_request_finish(repo, artifacts, http_on):
    _, srv, h, _ = repo
    model = srv.app.registry.get("beta")
    call = http_on(srv)
    x = artifacts.digits[:1]
    body = b'{"instances": ' + str(x.tolist()).encode() + b"}"
    answers: list[int] = []
    with model.engine():  # the request waits for this engine; the unload waits for both
        request = threading.Thread(
            target=lambda: answers.append(call("POST", "/v1/models/beta:predict", body)[0])
        )
        request.start()
        deadline = time.monotonic() + 20
        while model.in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert model.in_flight == 1  # resolved the model, waiting for the engine
        unload = threading.Thread(
            target=lambda: answers.append(call("POST", "/v2/repository/models/beta/unload")[0])
        )
        unload.start()
        unload.join(timeout=0.5)
        assert unload.is_alive()  # cannot close the model while its engine is out
    unload.join(timeout=30)
    request.join(timeout=30)
    assert not unload.is_alive() and not request.is_alive()
    assert answers == [200, 200]  # the request was served, then the unload finished
    assert not model.engines and srv.app.registry.get("beta") is None
    with pytest.raises(HttpError, match="'beta' is being unloaded") as exc:
        model.infer({model.inputs[0].name: x})  # a request that found it just before the unload
    assert exc.value.status == 503
    h.load_model("beta")


def test_model_control_is_off_by_default(server, http):
    assert server.app.repository.mode is ModelControl.NONE
    status, _, body = http("POST", "/v2/repository/models/tflite-fp32/unload")
    assert status == 403 and b"--model-control explicit" in body
    assert server.app.registry.get("tflite-fp32") is not None
    with GrpcServer(server.app, server.settings, port=0) as grpc_srv:
        g = tgrpc.InferenceServerClient(grpc_srv.address)
        with pytest.raises(InferenceServerException, match="model control is off") as exc:
            g.load_model("tflite-fp32")
        assert exc.value.status() == "StatusCode.PERMISSION_DENIED"
        g.close()


@pytest.fixture
def http_on():
    from .conftest import call

    def on(srv):
        return lambda method, path, body=b"": call(srv, method, path, body)

    return on


def test_load_on_a_registry_without_load_options_is_a_config_error(repo, artifacts):
    from edgeship.errors import ConfigError
    from edgeship.serve.model_control import ModelRepository
    from edgeship.serve.registry import ModelRegistry

    root, *_ = repo
    registry = ModelRegistry([], repo[1].app.registry.load_options)
    repository = ModelRepository(registry, [root], ModelControl.EXPLICIT)
    registry.load_options = None  # swapped after the repository was built
    with pytest.raises(ConfigError, match="the registry has no load options"):
        repository.load("alpha")
