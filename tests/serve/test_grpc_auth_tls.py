"""gRPC takes the HTTP server's bearer token (health stays open) and its TLS certificate."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import tritonclient.grpc as tgrpc
from tritonclient.utils import InferenceServerException

from edgeship.serve import ServeSettings, create_server
from edgeship.serve.grpc_server import GrpcServer

TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("grpc_tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return d / "cert.pem", d / "key.pem"


@pytest.fixture(scope="module")
def secured(artifacts, loader, cert):
    settings = ServeSettings(port=0, token=TOKEN, tls_cert=str(cert[0]), tls_key=str(cert[1]))
    with (
        create_server([artifacts.fp32_tflite], settings, loader=loader) as srv,
        GrpcServer(srv.app, settings, port=0) as grpc_srv,
    ):
        yield srv, grpc_srv


def test_token_and_tls(secured, cert, artifacts):
    srv, grpc_srv = secured
    client = tgrpc.InferenceServerClient(
        f"localhost:{grpc_srv.port}", ssl=True, root_certificates=str(cert[0])
    )
    assert client.is_server_live() and client.is_server_ready()  # open without a token
    with pytest.raises(InferenceServerException, match="Missing bearer token") as exc:
        client.get_model_metadata("tiny-digits")
    assert exc.value.status() == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(InferenceServerException, match="Invalid bearer token"):
        client.get_model_metadata("tiny-digits", headers={"authorization": "Bearer nope"})
    auth = {"authorization": f"Bearer {TOKEN}"}
    model = srv.app.registry.get("tiny-digits")
    inp = tgrpc.InferInput(model.inputs[0].name, [1, 8, 8, 1], "FP32")
    inp.set_data_from_numpy(artifacts.digits[:1])
    result = client.infer("tiny-digits", [inp], headers=auth)
    assert result.as_numpy(model.outputs[0].name).shape == (1, 10)
    client.close()
    plain = tgrpc.InferenceServerClient(f"localhost:{grpc_srv.port}")
    with pytest.raises(InferenceServerException):
        plain.get_model_metadata("tiny-digits", headers=auth, client_timeout=5)
    plain.close()


def test_grpc_port_taken_is_a_config_error(secured):
    srv, grpc_srv = secured
    from edgeship.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Cannot listen for gRPC on 127\.0\.0\.1:"):
        GrpcServer(srv.app, ServeSettings(port=0), port=grpc_srv.port)
    with pytest.raises(ConfigError, match="gRPC port must be an integer"):
        GrpcServer(srv.app, ServeSettings(port=0), port=70000)
