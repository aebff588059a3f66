"""Input-range awareness: one typed warning per engine and input, NaN handled as documented,
labels beyond the model's classes refused by `edgeship predict`."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import ModelCard, TensorInfo
from edgeship.cli.main import main
from edgeship.errors import InvalidInputError
from edgeship.runtime import InputRangeWarning, load
from edgeship.runtime.ranges import SAMPLE_EVERY


def _calls(engine, x: np.ndarray, n: int = 1) -> list[warnings.WarningMessage]:
    """Run ``n`` predictions; return the warnings, failing on any other than ours."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(n):
            engine.predict(x)
    others = [w for w in caught if not issubclass(w.category, InputRangeWarning)]
    assert not others, [str(w.message) for w in others]
    return caught


@pytest.fixture
def carded(artifacts: Path, tmp_path: Path) -> Path:
    """The fp32 digits model with a card recording the training range [0, 1]."""
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "m.tflite")
    ModelCard(
        name="digits",
        inputs=(TensorInfo("image", (None, 8, 8, 1), range=(0.0, 1.0)),),
        outputs=(TensorInfo("probs", (None, 10)),),
    ).save(tmp_path)
    return tmp_path / "m.tflite"


def test_int8_saturation_warns_once(artifacts: Path, digits):
    x = digits["x"][:4]
    with load(artifacts / "int8.tflite", verify=False) as engine:
        assert _calls(engine, x) == []
        caught = _calls(engine, x * 255, SAMPLE_EVERY * 3)  # the fast path: sampled checks
        assert len(caught) == 1, [str(w.message) for w in caught]
        text = str(caught[0].message)
        assert "int8 quantization represents, [0, 1]" in text and "saturate" in text
        assert caught[0].filename == __file__  # points at the caller's line
        assert _calls(engine, x * 255, SAMPLE_EVERY * 2) == []  # once per engine and input
    with load(artifacts / "int8.tflite", verify=False) as engine:
        assert len(_calls(engine, x * 255)) == 1  # the first call is always checked


def test_far_outside_the_card_range_warns(carded: Path, digits):
    x = digits["x"][:4]
    with load(carded, verify=False) as engine:
        assert _calls(engine, x * 1.2, SAMPLE_EVERY * 2) == []  # near the range: quiet
        caught = _calls(engine, x * 16, SAMPLE_EVERY)
        assert len(caught) == 1
        assert "far outside the range the model was trained on, [0, 1]" in str(caught[0].message)
    with load(carded, verify=False) as engine:  # a batch of another size: the checked path
        assert len(_calls(engine, -digits["x"][:3] * 8)) == 1


def test_nan_into_a_float_model_warns_and_check_finite_refuses(artifacts: Path, digits):
    x = digits["x"][:4].copy()
    x[0, 3, 3, 0] = np.nan
    for name in ("fp32.tflite", "int8_floatio.tflite", "fp32.onnx"):
        with load(artifacts / name, verify=False) as engine:
            caught = _calls(engine, x)
            assert len(caught) == 1 and "NaN or Inf" in str(caught[0].message), name
            with pytest.raises(InvalidInputError, match="NaN/Inf"):
                engine.predict(x, check_finite=True)


def test_nan_into_an_int8_input_is_a_typed_error_on_every_path(artifacts: Path, digits):
    x = digits["x"][:4]
    bad = x.copy()
    bad[1, 0, 0, 0] = np.nan
    with load(artifacts / "int8.tflite", verify=False) as engine:
        engine.predict(x)  # the next call of this shape takes the fast path
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # never numpy's cast warning
            for _ in range(3):
                with pytest.raises(InvalidInputError, match="1 NaN value"):
                    engine.predict(bad)
        np.testing.assert_array_equal(engine.predict(x), engine.predict(x.copy()))


def test_predict_cli_warns_and_refuses_nan(artifacts: Path, digits, tmp_path: Path, capsys):
    shutil.copy(artifacts / "int8.tflite", tmp_path / "int8.tflite")
    model = str(tmp_path / "int8.tflite")
    np.save(tmp_path / "loud.npy", digits["x"][:3] * 255)
    assert main(["predict", model, "--input", str(tmp_path / "loud.npy"), "--no-verify"]) == 0
    err = capsys.readouterr().err
    assert err.count("edgeship predict: warning:") == 1 and "saturate" in err
    x = digits["x"][:3].copy()
    x[0, 0, 0, 0] = np.inf
    np.save(tmp_path / "inf.npy", x)
    assert main(["predict", model, "--input", str(tmp_path / "inf.npy"), "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert "NaN/Inf" in err and "Traceback" not in err


def test_predict_cli_labels_beyond_the_classes(artifacts: Path, digits, tmp_path: Path, capsys):
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "m.tflite")
    y = digits["y"][:5].astype(np.int64)
    y[2] = 42
    np.savez(tmp_path / "labels.npz", x=digits["x"][:5], y=y)
    argv = ["predict", str(tmp_path / "m.tflite"), "--input", str(tmp_path / "labels.npz")]
    assert main([*argv, "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "IndexError" not in err
    assert "go up to 42, but the model scores 10 classes (labels 0..9)" in err
    assert main([*argv, "--no-verify", "--limit", "2"]) == 0  # the first two are fine


def test_nan_into_an_int8_input_gets_the_error_not_also_a_warning(artifacts: Path, digits):
    bad = digits["x"][:2].copy()
    bad[0, 0, 0, 0] = np.nan
    with load(artifacts / "int8.tflite", verify=False) as engine:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(InvalidInputError, match="NaN"):
                engine.predict(bad)
        assert caught == []
