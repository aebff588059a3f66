"""Bearer-token auth (health stays open) and TLS."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from edgeship.errors import ConfigError
from edgeship.serve import ServeSettings, create_server, read_token_file

TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def secured(artifacts, loader):
    srv = create_server([artifacts.fp32_tflite], ServeSettings(port=0, token=TOKEN), loader=loader)
    with srv:
        yield srv


def _get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    out = resp.status, resp.headers, resp.read()  # header names are case-insensitive
    conn.close()
    return out


def test_token_required_except_health(secured):
    port = secured.port
    assert _get(port, "/v2/health/live")[0] == 200
    assert _get(port, "/v2/health/ready")[0] == 200
    status, headers, body = _get(port, "/v2/models/tiny-digits")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "Missing bearer token" in json.loads(body)["error"]
    status, _, body = _get(port, "/v2/models/tiny-digits", {"Authorization": "Bearer wrong"})
    assert status == 401 and json.loads(body)["error"] == "Invalid bearer token."
    assert _get(port, "/metrics", {"Authorization": f"Basic {TOKEN}"})[0] == 401
    assert _get(port, "/nope", {"Authorization": "Bearer x"})[0] == 401  # no route probing
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _get(port, "/v2/models/tiny-digits", auth)[0] == 200
    assert _get(port, "/metrics", auth)[0] == 200


def test_tritonclient_with_token(secured, artifacts):
    client = triton.InferenceServerClient(f"127.0.0.1:{secured.port}")
    model = secured.app.registry.get("tiny-digits")
    inp = triton.InferInput(model.inputs[0].name, [1, 8, 8, 1], "FP32")
    inp.set_data_from_numpy(artifacts.digits[:1])
    with pytest.raises(InferenceServerException, match="401"):
        client.infer("tiny-digits", [inp])
    result = client.infer("tiny-digits", [inp], headers={"Authorization": f"Bearer {TOKEN}"})
    assert result.as_numpy(model.outputs[0].name).shape == (1, 10)
    client.close()


def test_token_file_rules(tmp_path):
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    assert read_token_file(good) == TOKEN
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        read_token_file(short)
    with pytest.raises(ConfigError, match="Cannot read the token file"):
        read_token_file(tmp_path / "missing")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return d / "cert.pem", d / "key.pem"


def test_tls_serves_https_only(artifacts, cert, loader):
    settings = ServeSettings(port=0, tls_cert=str(cert[0]), tls_key=str(cert[1]))
    with create_server([artifacts.fp32_onnx], settings, loader=loader) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(cert[0]))
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)
        x = artifacts.digits[:2]
        conn.request("POST", "/v1/models/tiny-digits:predict",
                     json.dumps({"instances": x.tolist()}).encode())  # fmt: skip
        resp = conn.getresponse()
        assert resp.status == 200
        assert np.asarray(json.loads(resp.read())["predictions"]).shape == (2, 10)
        conn.close()
        # A plain-HTTP client gets no answer, and the server keeps serving HTTPS.
        with pytest.raises((http.client.HTTPException, OSError)):
            _get(srv.port, "/v2/health/live")
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)
        conn.request("GET", "/v2/health/ready")
        assert conn.getresponse().status == 200
        conn.close()


def test_a_file_that_is_not_a_pem_certificate_is_a_config_error(artifacts, tmp_path, loader):
    (tmp_path / "token.txt").write_text("not a certificate\n")
    bad = str(tmp_path / "token.txt")
    settings = ServeSettings(port=0, tls_cert=bad, tls_key=bad)
    with pytest.raises(ConfigError, match="Expected a PEM certificate and its PEM private key"):
        create_server([artifacts.fp32_onnx], settings, loader=loader)


def test_settings_reject_half_tls_and_bad_values():
    with pytest.raises(ConfigError, match="TLS needs both a certificate and a key"):
        ServeSettings(tls_cert="c.pem")
    with pytest.raises(ConfigError, match="port must be an integer"):
        ServeSettings(port=70000)
    with pytest.raises(ConfigError, match="max_body_bytes"):
        ServeSettings(max_body_bytes=10)
