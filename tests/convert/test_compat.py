"""--target-runtime: parsing, version matching and the settings it picks."""

from __future__ import annotations

import pytest

from edgeship.convert.compat import parse_target, plan_for_target
from edgeship.convert.variants import ConvertOptions
from edgeship.errors import ConfigError


def test_parse_targets() -> None:
    t = parse_target("tflite-runtime==2.14")
    assert (t.name, t.op, t.version, t.format) == ("tflite-runtime", "==", (2, 14), "tflite")
    assert str(parse_target("onnxruntime >= 1.16")) == "onnxruntime>=1.16"
    assert parse_target("opset=13").op == "=="
    assert parse_target("ai-edge-litert>=2.0").name == "litert"


@pytest.mark.parametrize("text", ["tflite-runtime", "==2.14", "tflite runtime 2.14", ""])
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ConfigError, match="Expected NAME==VERSION"):
        parse_target(text)


def test_parse_rejects_unknown_runtime() -> None:
    with pytest.raises(ConfigError, match="Unknown target runtime 'tensorrt'"):
        parse_target("tensorrt==8.6")


def test_allows() -> None:
    assert parse_target("tflite-runtime==2.14").allows("2.14.0")
    assert not parse_target("tflite-runtime==2.14").allows("2.15.0")
    assert parse_target("onnxruntime>=1.16").allows("1.32.0")
    assert not parse_target("onnxruntime>=1.16").allows("1.15.1")


def test_old_tflite_runtime_gets_per_tensor_dense() -> None:
    opts, notes = plan_for_target(parse_target("tflite-runtime==2.14"), ConvertOptions(), False)
    assert opts.tflite_legacy_dense is True
    assert "per tensor" in notes[0]
    opts, notes = plan_for_target(parse_target("litert>=2.0"), ConvertOptions(), False)
    assert opts.tflite_legacy_dense is False and notes == []


def test_opset_is_lowered_or_rejected() -> None:
    opts, notes = plan_for_target(parse_target("onnxruntime==1.12"), ConvertOptions(), False)
    assert opts.opset == 17 and notes == []
    opts, notes = plan_for_target(parse_target("opset<=13"), ConvertOptions(), False)
    assert opts.opset == 13 and "lowered to 13" in notes[0]
    with pytest.raises(ConfigError, match="--opset 17 does not run on opset<=13"):
        plan_for_target(parse_target("opset<=13"), ConvertOptions(opset=17), True)
    with pytest.raises(ConfigError, match="needs ONNX opset <= 11"):
        plan_for_target(parse_target("opset<=11"), ConvertOptions(), False)


def test_target_verdicts() -> None:
    from edgeship.convert.compat import target_check as _target_check
    from edgeship.convert.variants import VARIANTS

    spec = VARIANTS["tflite-dynamic"]
    target = parse_target("tflite-runtime==2.14")
    assert _target_check(target, spec, {"tflite-runtime 2.14.0": "ok"}) == (
        [],
        "runs on tflite-runtime 2.14.0",
    )
    errors, verdict = _target_check(target, spec, {"tflite-runtime 2.14.0": "BackendError: x"})
    assert errors == ["does not run on target tflite-runtime==2.14: BackendError: x"]
    errors, verdict = _target_check(target, spec, {"tflite-runtime 2.15.0": "ok"})
    assert errors == [] and verdict is not None
    assert verdict.startswith("not verified: no tflite-runtime==2.14 installed here (found")
    assert _target_check(target, VARIANTS["onnx-fp32"], {}) == ([], None)
