"""The JSON codec gives the same answers with orjson (the serve extra) and without it."""

from __future__ import annotations

import math

import pytest

from edgeship.serve import protocol
from edgeship.serve.protocol import HttpError, dump_json, parse_json

GOOD = [b'{"inputs":[{"data":[0.0,0.3125,1e-7,-2.5],"shape":[4]}]}',
        b"[1, 2, 18446744073709551615]",
        '{"k": "\u00e9\u6f22"}'.encode(), b"[]", b'"x"']  # fmt: skip
BAD = [b"{not json", b"\xff\xfe", b"[NaN]", b"[Infinity]", b"[-Infinity]", b"[1,]",
       b"[" * 100000 + b"]" * 100000, b""]  # fmt: skip
VALUES = [{"a": [1.5, float("nan"), float("inf"), -0.0]}, {"big": 2**70}, [1e-7, 3.0], 'x\n"']


@pytest.fixture(params=["orjson", "stdlib"])
def codec(request, monkeypatch):
    if request.param == "stdlib":
        monkeypatch.setattr(protocol, "_orjson", None)
    elif protocol._orjson is None:
        pytest.skip("orjson is not installed")
    return request.param


@pytest.mark.parametrize("body", GOOD)
def test_valid_json_decodes_the_same(codec, body):
    import json

    assert parse_json(body) == json.loads(body)


@pytest.mark.parametrize("body", BAD)
def test_invalid_json_is_a_400(codec, body):
    with pytest.raises(HttpError) as caught:
        parse_json(body, "inference request header")
    assert caught.value.status == 400
    assert "The inference request header is not valid JSON" in caught.value.message


@pytest.mark.parametrize("value", VALUES)
def test_encoding_is_strict_json_with_null_for_non_finite(codec, value):
    import json

    decoded = json.loads(dump_json(value))  # strict: no NaN/Infinity tokens
    expected = json.loads(json.dumps(value).replace("NaN", "null").replace("Infinity", "null"))
    assert decoded == expected
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(decoded))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value
