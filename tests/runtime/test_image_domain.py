"""Real image files of digits reach a trained digits model in its training domain.

Ten test-split digits are rendered as 64x64 grayscale 0..255 PNG and JPEG files (nearest
upscaling with numpy, not the resize the code uses) and classified through `edgeship predict`,
`Engine.predict_image` and the server's `:classify`; the expected answers are the dataset's
labels. The digits card scales raw 0..16 arrays by 1/16: an 8-bit image must be mapped from
0..255 onto 0..16 first, or the model sees values 16 times too large.
"""

from __future__ import annotations

import http.client
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import ModelCard, load_card
from edgeship.cli.main import main

PIL = pytest.importorskip("PIL.Image")
N = 10


@pytest.fixture(scope="module")
def converted(digits_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's trained digits CNN converted to tflite-int8 (with its card)."""
    from edgeship.convert import convert

    out = tmp_path_factory.mktemp("image_domain")
    convert(digits_model_dir / "model.keras", out, variants=("tflite-int8",))
    return out


@pytest.fixture(scope="module")
def images(converted: Path, digits_samples) -> tuple[list[Path], list[int]]:
    """Ten digits as 64x64 PNG and JPEG files, white ink (255) on black, and their labels."""
    x, y = digits_samples.single, digits_samples.labels
    picked = [int(np.flatnonzero(y == d)[0]) for d in range(N)]  # one of each digit
    raw = np.rint(x[picked, :, :, 0] * 16)  # the dataset's raw 0..16 values
    paths: list[Path] = []
    for i, image in zip(picked, raw, strict=True):
        big = np.kron(image, np.ones((8, 8))) * (255 / 16)  # nearest upscale to 64x64
        pixels = PIL.fromarray(np.clip(np.rint(big), 0, 255).astype(np.uint8), mode="L")
        for suffix in (".png", ".jpg"):
            path = converted / "images" / f"digit{i}{suffix}"
            path.parent.mkdir(exist_ok=True)
            pixels.save(path, quality=95) if suffix == ".jpg" else pixels.save(path)
            paths.append(path)
    return paths, [int(y[i]) for i in picked for _ in (".png", ".jpg")]


def _right(answers: list[str], labels: list[int], card: ModelCard) -> int:
    names = card.labels or tuple(str(i) for i in range(10))
    return sum(a == names[t] for a, t in zip(answers, labels, strict=True))


def test_trained_card_records_the_domains(converted: Path):
    card = load_card(converted)
    assert card.preprocessing.raw_range == (0.0, 16.0)
    assert card.preprocessing.scale == pytest.approx(1 / 16)
    assert card.inputs[0].range == (0.0, 1.0)


def test_predict_cli_on_png_and_jpeg(converted: Path, images, capsys):
    paths, labels = images
    card = load_card(converted)
    answers = []
    for path in paths:
        rc = main(["predict", str(converted / "tflite-int8.tflite"), "--input", str(path),
                   "--json", "--top-k", "1"])  # fmt: skip
        assert rc == 0
        answers.append(json.loads(capsys.readouterr().out)["predictions"][0]["top"][0]["label"])
    for kind in (0, 1):  # PNG, JPEG
        assert _right(answers[kind::2], labels[kind::2], card) >= 9


def test_engine_predict_image(converted: Path, images):
    from edgeship.runtime import load

    paths, labels = images
    with load(converted / "tflite-int8.tflite") as engine:
        answers = [engine.predict_image(p, top_k=1)[0][0] for p in paths]
        assert engine.card is not None
        assert _right(answers, labels, engine.card) >= 19


def test_classify_endpoint(converted: Path, images):
    from edgeship.runtime import load
    from edgeship.serve import ServeSettings, create_server

    paths, labels = images
    answers = []
    with create_server([converted], ServeSettings(port=0), loader=load) as srv:
        for path in paths:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.request("POST", "/v1/models/tflite-int8:classify?top_k=1", path.read_bytes())
            resp = conn.getresponse()
            body = json.loads(resp.read())
            conn.close()
            assert resp.status == 200, body
            answers.append(body["predictions"][0]["label"])
    assert _right(answers, labels, load_card(converted)) >= 19


def test_a_card_written_before_raw_range_maps_images_the_same(
    converted: Path, images, tmp_path: Path
):
    """An old card (no ``raw_range``, no ``range``) takes the raw domain [0, 1/scale]."""
    from edgeship.runtime import load

    shutil.copy(converted / "tflite-int8.tflite", tmp_path / "m.tflite")
    data = load_card(converted).to_dict()
    del data["preprocessing"]["raw_range"]
    for tensor in data["inputs"]:
        tensor.pop("range", None)
    ModelCard.from_dict(data).save(tmp_path)
    assert "raw_range" not in (tmp_path / "edgeship.json").read_text()
    paths, labels = images
    with load(tmp_path / "m.tflite", verify=False) as engine:
        answers = [engine.predict_image(p, top_k=1)[0][0] for p in paths]
        assert engine.card is not None and engine.card.preprocessing.raw_range is None
        assert _right(answers, labels, engine.card) >= 19


def test_a_16bit_png_maps_its_full_range(converted: Path, images, tmp_path: Path):
    from edgeship.runtime import load

    paths, labels = images
    wide = []
    for path in paths[::2]:
        pixels = np.asarray(PIL.open(path), dtype=np.uint16) * 257  # 0..255 -> 0..65535
        out = tmp_path / f"{path.stem}-16.png"
        PIL.fromarray(pixels).save(out)
        assert PIL.open(out).mode.startswith("I")
        wide.append(out)
    with load(converted / "tflite-int8.tflite") as engine:
        answers = [engine.predict_image(p, top_k=1)[0][0] for p in wide]
        assert engine.card is not None
        assert _right(answers, labels[::2], engine.card) >= 9
