"""`edgeship predict` on real artifacts: text, JSON, images with the model card, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import ModelCard, Preprocessing, TensorInfo
from edgeship.cli.main import main
from edgeship.runtime import load


@pytest.fixture
def model_dir(artifacts: Path, tmp_path: Path) -> Path:
    """int8 model with a card whose preprocessing maps 0..255 pixels to the 0..1 the model takes."""
    shutil.copy(artifacts / "int8.tflite", tmp_path / "int8.tflite")
    ModelCard(
        name="digits",
        inputs=(TensorInfo("image", (None, 8, 8, 1)),),
        outputs=(TensorInfo("probs", (None, 10)),),
        labels=tuple(f"digit-{i}" for i in range(10)),
        preprocessing=Preprocessing(scale=1 / 255, image_size=(8, 8), color_mode="grayscale"),
    ).save(tmp_path)
    return tmp_path


def test_predict_npz_json(model_dir: Path, digits, capsys: pytest.CaptureFixture[str]):
    np.savez(model_dir / "eval.npz", x=digits["x"][:40], y=digits["y"][:40])
    rc = main(
        [
            "predict",
            str(model_dir / "int8.tflite"),
            "--input",
            str(model_dir / "eval.npz"),
            "--json",
            "--top-k",
            "3",
        ]
    )
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "litert" and result["samples"] == 40
    assert len(result["predictions"][0]["top"]) == 3
    assert result["predictions"][0]["top"][0]["label"].startswith("digit-")
    # the accuracy of the model's own answers on these 40 samples, whatever training gave
    with load(model_dir / "int8.tflite", verify=False) as engine:
        top1 = engine.predict(digits["x"][:40]).argmax(axis=1)
    assert result["accuracy"] == pytest.approx(float(np.mean(top1 == digits["y"][:40])))


def test_predict_npz_keyed_by_input_name(model_dir: Path, digits, capsys):
    np.savez(model_dir / "named.npz", image=digits["x"][:20], y=digits["y"][:20])
    path = str(model_dir / "named.npz")
    assert main(["predict", str(model_dir / "int8.tflite"), "--input", path, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 20 and result["accuracy"] >= 0.8


def test_predict_npy_text(model_dir: Path, digits, capsys: pytest.CaptureFixture[str]):
    np.save(model_dir / "x.npy", digits["x"][:3])
    assert (
        main(["predict", str(model_dir / "int8.tflite"), "--input", str(model_dir / "x.npy")]) == 0
    )
    out = capsys.readouterr().out
    assert "int8.tflite on litert" in out and "[2] digit-" in out


def test_predict_png_uses_card_preprocessing(model_dir: Path, digits, capsys):
    pil = pytest.importorskip("PIL.Image")
    image = (digits["x"][7, :, :, 0] * 255).round().astype(np.uint8)
    pil.fromarray(image, mode="L").save(model_dir / "digit.png")
    rc = main(
        [
            "predict",
            str(model_dir / "int8.tflite"),
            "--input",
            str(model_dir / "digit.png"),
            "--json",
            "--no-verify",
        ]
    )
    assert rc == 0
    top = json.loads(capsys.readouterr().out)["predictions"][0]["top"][0]
    with __import__("edgeship.runtime").runtime.load(model_dir / "int8.tflite", verify=False) as e:
        probs = e.predict(digits["x"][7:8])[0]
        expected = int(probs.argmax())
        label, score = e.predict_image(model_dir / "digit.png", top_k=2)[0]
    assert label == top["label"] == f"digit-{expected}"
    # The dequantized softmax is already a probability vector: shown as is, not softmaxed again.
    assert score == pytest.approx(float(probs[expected]), abs=1 / 256)
    assert top["score"] == pytest.approx(score, abs=1 / 256)


def test_predict_errors_exit_1(model_dir: Path, tmp_path: Path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((8, 8)))
    assert (
        main(["predict", str(model_dir / "int8.tflite"), "--input", str(tmp_path / "bad.npy")]) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("edgeship predict: error: input 'image' expects")
    assert (
        main(["predict", str(model_dir / "int8.tflite"), "--input", str(tmp_path / "x.csv")]) == 1
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(["predict", str(model_dir / "nope.tflite"), "--input", str(tmp_path / "bad.npy")]) == 1
    )
    assert "missing. Expected a .tflite or .onnx model file" in capsys.readouterr().err


def test_predict_on_an_accelerator(model_dir: Path, digits, tmp_path: Path, capsys):
    pytest.importorskip("ai_edge_litert.compiled_model")
    np.save(tmp_path / "x.npy", digits["x"][:3])
    args = ["predict", str(model_dir / "int8.tflite"), "--input", str(tmp_path / "x.npy")]
    assert main([*args, "--backend", "litert-compiled", "--accelerator", "cpu", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["predictions"]) == 3
    # No NPU dispatch library ships with the package: the NPU is not there, so exit 1.
    assert main([*args, "--backend", "litert-compiled", "--accelerator", "npu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgeship predict: error: LiteRT accelerator 'npu' cannot run")
    assert main([*args, "--accelerator", "GPU"]) == 1  # auto is litert: it takes no device
    assert "device='GPU' applies to the openvino and litert-compiled" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_an_image_without_a_card_warns(artifacts: Path, digits, tmp_path: Path, capsys):
    pil = pytest.importorskip("PIL.Image")
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "lone.tflite")
    image = (digits["x"][7, :, :, 0] * 255).round().astype(np.uint8)
    pil.fromarray(image, mode="L").save(tmp_path / "digit.png")
    argv = ["predict", str(tmp_path / "lone.tflite"), "--input", str(tmp_path / "digit.png")]
    assert main([*argv, "--no-verify"]) == 0
    assert "warning: no model card" in capsys.readouterr().err
    assert main([*argv, "--no-verify", "--preprocess"]) == 1
    assert "--preprocess needs the model card" in capsys.readouterr().err


def test_a_bad_npy_is_a_typed_error(model_dir: Path, tmp_path: Path, capsys):
    (tmp_path / "text.npy").write_text("not numpy")
    argv = ["predict", str(model_dir / "int8.tflite"), "--input", str(tmp_path / "text.npy")]
    assert main([*argv, "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert "Cannot read" in err and "Traceback" not in err


#: Modules the bare LiteRT script does without and ``edgeship predict`` (and ``load``) must
#: too: each one imported is paid by every start of the command (benchmarks/cold_start.py).
#: Image decoding is imported only for an image input.
NOT_ON_PREDICT_PATH = (
    "dataclasses", "copy", "shutil", "tempfile", "zipfile", "bz2", "lzma", "edgeship.runtime.images"
)  # fmt: skip
PREDICTIONS = {
    "bare": "import numpy as np\nfrom ai_edge_litert.interpreter import Interpreter\n"
    "i = Interpreter(model_path=sys.argv[2]); i.allocate_tensors()\n"
    "i.set_tensor(i.get_input_details()[0]['index'], np.load(sys.argv[4])); i.invoke()\n"
    "print(i.get_tensor(i.get_output_details()[0]['index']).shape, 'sample(s)')",
    "cli": "from edgeship.cli.main import main\nassert main(sys.argv[1:]) == 0",
    "load": "import numpy as np\nfrom edgeship.runtime import load\n"
    "print(load(sys.argv[2]).predict(np.load(sys.argv[4])).shape, 'sample(s)')",
}


def _listed_modules_after(entry: str, argv: list[str]) -> list[str]:
    """The modules of :data:`NOT_ON_PREDICT_PATH` a fresh Python holds after one prediction."""
    import subprocess
    import sys

    loaded = f"sorted(set(sys.modules).intersection({NOT_ON_PREDICT_PATH!r}))"
    code = f"import sys\n{PREDICTIONS[entry]}\nprint('LOADED=' + ','.join({loaded}))"
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "sample(s)" in out.stdout  # it predicted
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED="), out.stdout
    return [m for m in last.removeprefix("LOADED=").split(",") if m]


@pytest.mark.parametrize("entry", ["cli", "load"])
def test_predict_leaves_out_modules_it_does_not_use(artifacts: Path, digits, tmp_path, entry):
    import hashlib

    from edgeship.manifest import MANIFEST_SCHEMA, write_manifest

    shutil.copy(artifacts / "fp32.tflite", tmp_path / "fp32.tflite")
    sha = hashlib.sha256((tmp_path / "fp32.tflite").read_bytes()).hexdigest()
    variant = {"name": "tflite-fp32", "file": "fp32.tflite", "status": "ok", "sha256": sha}
    write_manifest(tmp_path, {"schema": MANIFEST_SCHEMA, "variants": [variant]})
    np.save(tmp_path / "x.npy", digits["x"][:1])
    argv = ["predict", str(tmp_path / "fp32.tflite"), "--input", str(tmp_path / "x.npy")]
    # only what the bare script itself imports (on this Python and numpy) may be there
    assert _listed_modules_after(entry, argv) == _listed_modules_after("bare", argv)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_preprocess_scales_npy_and_npz_alike(model_dir: Path, digits, suffix: str, capsys):
    """Raw 0..255 values with --preprocess give the model's answers on its 0..1 inputs."""
    raw = digits["x"][:40] * 255  # the card maps 0..255 onto the model's 0..1
    path = model_dir / f"raw{suffix}"
    if suffix == ".npy":
        np.save(path, raw)
    else:
        np.savez(path, x=raw, y=digits["y"][:40])
    argv = ["predict", str(model_dir / "int8.tflite"), "--input", str(path), "--json"]
    assert main([*argv, "--preprocess", "--top-k", "1"]) == 0
    got = [p["top"][0]["label"] for p in json.loads(capsys.readouterr().out)["predictions"]]
    with load(model_dir / "int8.tflite", verify=False) as engine:
        top1 = engine.predict(digits["x"][:40]).argmax(axis=1)
    assert got == [f"digit-{i}" for i in top1]
