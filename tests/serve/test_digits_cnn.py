"""The trained digits CNN, converted by edgeship.convert, served from its output directory."""

from __future__ import annotations

import http.client
import io
import json

import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from edgeship.serve import ServeSettings, create_server


@pytest.fixture(scope="module")
def digits_server(digits_model_dir, tmp_path_factory, loader):
    from edgeship.convert import convert

    out = tmp_path_factory.mktemp("digits_convert")
    convert(digits_model_dir / "model.keras", out, variants=("tflite-fp32", "tflite-int8"))
    with create_server([out], ServeSettings(port=0), loader=loader) as srv:
        yield srv, out


def test_convert_output_serves_its_ok_variants(digits_server, digits_samples, loader):
    srv, out = digits_server
    assert srv.app.registry.names == ["tflite-fp32", "tflite-int8"]
    x = digits_samples.single[:16].astype(np.float32)
    client = triton.InferenceServerClient(f"127.0.0.1:{srv.port}")
    for name in srv.app.registry.names:
        model = srv.app.registry.get(name)
        inp = triton.InferInput(model.inputs[0].name, list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        got = client.infer(name, [inp]).as_numpy(model.outputs[0].name)
        with loader(str(out / f"{name}.tflite")) as engine:
            np.testing.assert_array_equal(got, engine.predict(x))
    client.close()


def test_classify_reads_the_trained_card(digits_server, digits_samples, loader):
    srv, out = digits_server
    card = srv.app.registry.get("tflite-fp32").card
    assert card is not None and card.labels is not None
    pre = card.preprocessing
    x = digits_samples.single[:20]
    assert pre.raw_domain() == (0.0, 16.0)  # raw arrays 0..16; 8-bit images map 0..255 onto it
    raw = np.rint(x[..., 0] * 255)  # 8-bit image files of the same digits
    agree = 0
    with loader(str(out / "tflite-fp32.tflite")) as engine:
        want = engine.predict((raw[..., None] / 255).astype(np.float32))
    for i in range(len(x)):
        buf = io.BytesIO()
        Image.fromarray(raw[i].astype(np.uint8), "L").save(buf, format="PNG")
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("POST", "/v1/models/tflite-fp32:classify?top_k=1", buf.getvalue())
        resp = conn.getresponse()
        top = json.loads(resp.read())["predictions"][0]
        conn.close()
        assert resp.status == 200
        assert top["label"] == card.labels[top["index"]]
        np.testing.assert_allclose(top["score"], want[i].max(), rtol=1e-5)
        agree += int(top["index"] == int(digits_samples.labels[i]))
    # the served classes are the model's own: as accurate as the engine on the same images
    labels = np.asarray(digits_samples.labels[: len(x)]).reshape(-1)
    assert agree == int(np.sum(want.argmax(axis=1) == labels))
