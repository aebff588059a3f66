"""The image endpoint: card preprocessing and labels, same scores as Engine.predict."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from edgeship.serve.classify import extract_image, parse_top_k
from edgeship.serve.protocol import HttpError

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _png(pixels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("model", ["tflite-fp32", "onnx-fp32", "tflite-int8"])
def test_png_matches_engine_on_card_preprocessing(http, engines, artifacts, model):
    pixels = np.rint(artifacts.digits[7, :, :, 0] * 255)  # an 8-bit image file: 0..255
    # The card's raw domain is [0, 1/scale] = [0, 16]: 0..255 maps onto it, then * 1/16.
    x = pixels * np.float32(16 / 255) * np.float32(1 / 16)
    want = engines[model].predict(x.astype(np.float32)[None, :, :, None])[0]
    status, _, body = http(
        "POST", f"/v1/models/{model}:classify?top_k=3", _png(pixels), {"Content-Type": "image/png"}
    )
    assert status == 200
    preds = json.loads(body)["predictions"]
    order = np.argsort(-want, kind="stable")[:3]
    assert [p["index"] for p in preds] == order.tolist()
    assert [p["label"] for p in preds] == [LABELS[i] for i in order]
    np.testing.assert_array_equal([p["score"] for p in preds], want[order])


def _multipart(png: bytes) -> bytes:
    return (
        b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--XyZ--\r\n"
    )


def test_multipart_upload_and_resized_rgb_image(http, engines, artifacts):
    """A digit stretched to 24x16 RGB by repeating pixels (no resize library involved) is
    resized back by the server and classified as the 8x8 original is."""
    engine = engines["tflite-fp32"]
    originals = artifacts.digits
    probs = engine.predict(originals)
    top2 = np.sort(probs, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    confident = [int(i) for i in np.argsort(-margin)[:5] if margin[i] > 0.1]
    assert len(confident) >= 3, f"the session model is unsure of every digit: {margin}"
    for i in confident:
        gray = np.rint(originals[i, :, :, 0] * 255)
        stretched = np.repeat(np.repeat(gray, 3, axis=0), 2, axis=1)  # 24x16
        rgb = np.stack([stretched] * 3, axis=-1)
        status, _, payload = http(
            "POST", "/v1/models/tflite-fp32:classify?top_k=20", _multipart(_png(rgb, "RGB")),
            {"Content-Type": "multipart/form-data; boundary=XyZ"},
        )  # fmt: skip
        assert status == 200
        preds = json.loads(payload)["predictions"]
        assert len(preds) == 10  # top_k is capped at the number of classes
        assert [p["score"] for p in preds] == sorted((p["score"] for p in preds), reverse=True)
        assert preds[0]["index"] == int(np.argmax(probs[i])), f"digit {i}"


def test_helpers_reject_bad_values():
    with pytest.raises(HttpError, match="top_k must be a positive integer"):
        parse_top_k("zero", 10)
    with pytest.raises(HttpError, match="without a boundary"):
        extract_image(b"x", "multipart/form-data")
    assert parse_top_k(None, 3) == 3
    assert extract_image(b"abc", "image/png") == b"abc"


def test_logits_are_shown_as_probabilities(tmp_path):
    """A model ending in logits: scores go through a softmax, as `edgeship predict` shows."""
    from pathlib import Path

    from edgeship.serve.classify import top_k
    from edgeship.serve.registry import ServedModel

    model = ServedModel("m", Path(tmp_path / "m.onnx"), None, (), (), "onnxruntime_onnx", "x")
    preds = top_k(model, np.array([[0.0, 2.0, 1.0]]), 3)
    assert [p["index"] for p in preds] == [1, 2, 0]
    assert sum(p["score"] for p in preds) == pytest.approx(1.0)
    probs = top_k(model, np.array([[0.1, 0.7, 0.2]]), 1)
    assert probs[0]["score"] == pytest.approx(0.7)  # already probabilities: unchanged
