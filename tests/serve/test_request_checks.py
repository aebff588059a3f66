"""The request checks at their boundaries, called directly (no server, no model file): bearer
auth, the body limit before and after decompression, and the dtype/shape/finiteness checks
of the input tensors. (The same checks over real HTTP: test_auth_tls.py, test_http_stack.py,
test_bad_input.py.)"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import ConfigError
from edgeship.serve.app import App
from edgeship.serve.asgi import AsgiAdapter
from edgeship.serve.auth import OPEN_PATHS, BearerAuth, read_token_file
from edgeship.serve.protocol import HttpError, Request
from edgeship.serve.registry import ModelRegistry, ServedModel, TensorMeta
from edgeship.serve.settings import ServeSettings
from edgeship.serve.tensors import check_feeds

TOKEN = "s3cret-token-0123456789"
LIMIT = 4096


def _status(fn, *args) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(HttpError) as caught:
        fn(*args)
    return caught.value.status, str(caught.value)


def _get(path: str, authorization: str | None = None) -> Request:
    headers = {} if authorization is None else {"authorization": authorization}
    return Request("GET", path, headers=headers)


def test_bearer_auth_lets_only_the_token_through() -> None:
    auth = BearerAuth(TOKEN)
    auth.check(_get("/v2/models/m", f"Bearer {TOKEN}"))
    auth.check(_get("/v2/models/m", f"bearer {TOKEN}"))  # the scheme is case-insensitive
    for path in OPEN_PATHS:
        auth.check(_get(path))
    missing = "Missing bearer token. Send 'Authorization: Bearer <token>'."
    for path in ("/v2/models/m", "/v2", "/metrics", "/nope"):
        assert _status(auth.check, _get(path)) == (401, missing)
    assert _status(auth.check, _get("/v2/models/m", f"Basic {TOKEN}")) == (401, missing)
    assert _status(auth.check, _get("/v2/models/m", "Bearer  ")) == (401, missing)
    invalid = (401, "Invalid bearer token.")
    assert _status(auth.check, _get("/v2/models/m", f"Bearer {TOKEN}x")) == invalid
    assert _status(auth.check, _get("/v2/models/m", f"Bearer {TOKEN[:-1]}")) == invalid
    BearerAuth(None).check(_get("/v2/models/m"))  # no token: auth is off


def test_token_files_need_sixteen_characters(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("a" * 16 + "\n")
    assert read_token_file(path) == "a" * 16
    path.write_text("a" * 15 + "\n")
    with pytest.raises(ConfigError, match=r"at least 16 characters without spaces\. Got 15"):
        read_token_file(path)


def _adapter() -> AsgiAdapter:
    settings = ServeSettings(max_body_bytes=LIMIT)
    return AsgiAdapter(App(ModelRegistry([]), max_body_bytes=LIMIT), settings)


def test_a_body_of_the_limit_passes_one_byte_more_is_a_413() -> None:
    adapter = _adapter()
    try:
        assert adapter._check_body({"content-length": str(LIMIT)}) == (None, LIMIT)
        refused, length = adapter._check_body({"content-length": str(LIMIT + 1)})
        assert refused is not None and refused.status == 413 and length == LIMIT + 1
        assert b"exceeds the limit of 4096" in refused.body
    finally:
        adapter.close()


def test_a_decompressed_body_of_the_limit_passes_one_byte_more_is_a_413() -> None:
    app = App(ModelRegistry([]), max_body_bytes=LIMIT)
    for size in (LIMIT, LIMIT + 1, 50 * LIMIT):
        body = gzip.compress(b"7" * size)
        headers = {"content-encoding": "gzip"}
        request = Request("POST", "/v2/models/m/infer", headers=headers, body=body)
        if size <= LIMIT:
            assert app._body(request) == b"7" * size
        else:
            status, message = _status(app._body, request)
            assert status == 413 and f"exceeds the limit of {LIMIT} bytes" in message


def test_a_compressed_bomb_is_refused_without_inflating_it() -> None:
    """64 MiB of zeros gzip to about 64 KiB: refused after inflating no more than the limit."""
    app = App(ModelRegistry([]), max_body_bytes=LIMIT)
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    bomb = b"".join(zeros.compress(chunk) for _ in range(64)) + zeros.flush()
    request = Request("POST", "/v2/models/m/infer", headers={"content-encoding": "gzip"}, body=bomb)
    tracemalloc.start()
    try:
        status, _ = _status(app._body, request)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 413 and peak < 4 * (1 << 20), peak


def _model() -> ServedModel:
    inputs = (TensorMeta("image", (-1, 8, 8, 1), "float32"), TensorMeta("step", (-1, 1), "int8"))
    return ServedModel("m", Path("m.tflite"), None, inputs, (), "tflite", "litert")


def test_input_tensors_are_checked_for_dtype_shape_range_and_finiteness() -> None:
    model = _model()
    image, step = np.zeros((2, 8, 8, 1), np.float32), np.zeros((2, 1), np.int8)
    assert check_feeds(model, {"image": image, "step": step})["image"] is image
    bad = {
        "dtype": ({"image": image.astype(np.float64), "step": step}, "expects FP32 (float32)"),
        "fixed dim": ({"image": np.zeros((2, 8, 7, 1), np.float32), "step": step}, "shape"),
        "rank": ({"image": np.zeros((2, 8, 8), np.float32), "step": step}, "shape"),
        "empty": ({"image": np.zeros((0, 8, 8, 1), np.float32), "step": step[:0]}, "empty"),
        "batch": ({"image": image, "step": np.zeros((3, 1), np.int8)}, "one batch size"),
    }
    for value in (np.nan, np.inf):
        feeds = image.copy()
        feeds[1, 2, 3, 0] = value
        bad[f"{value}"] = ({"image": feeds, "step": step}, "contains NaN or infinity")
    for what, (feeds, message) in bad.items():
        status, text = _status(check_feeds, model, feeds)
        assert status == 400 and message in text, what


def test_json_integers_beyond_the_input_dtype_are_refused() -> None:
    from edgeship.serve.tensors import array_from_json

    int8 = np.dtype(np.int8)
    assert array_from_json([[-128, 127]], int8, "step").tolist() == [[-128, 127]]
    for data in ([[128]], [[-129]]):
        assert _status(array_from_json, data, int8, "step") == (
            400,
            "Input 'step': values must lie in [-128, 127] for int8.",
        )
