"""Variant specs and options: names are the contract, unknown options are rejected."""

from __future__ import annotations

import pytest

from edgeship.convert.variants import (
    VARIANTS,
    ActivationType,
    CalibrationMethod,
    ConversionSpec,
    ConvertOptions,
    Precision,
    resolve_variants,
)
from edgeship.errors import ConfigError

CONTRACT = (
    "tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int8-float-io",
    "tflite-int16x8", "onnx-fp32", "onnx-fp16", "onnx-dynamic", "onnx-int8", "tflm-int8",
)  # fmt: skip


def test_variant_names_are_the_contract() -> None:
    assert tuple(VARIANTS) == CONTRACT
    assert VARIANTS["tflite-int8"].filename == "tflite-int8.tflite"
    assert VARIANTS["onnx-int8"].suffix == ".onnx"
    assert VARIANTS["tflite-int16x8"].needs_calibration
    assert not VARIANTS["tflite-dynamic"].needs_calibration
    assert VARIANTS["tflite-fp32"].tolerance.atol == 1e-4


def test_resolve_all_lists_and_strings() -> None:
    assert [s.name for s in resolve_variants("all")] == list(CONTRACT)
    assert [s.name for s in resolve_variants("onnx-fp32, tflite-fp32")] == [
        "onnx-fp32",
        "tflite-fp32",
    ]
    assert len(resolve_variants(["tflite-int8", "tflite-int8"])) == 1


def test_resolve_unknown_variant_message() -> None:
    with pytest.raises(
        ConfigError, match=r"Unknown variant\(s\) \['tflite-int4'\]. Expected 'all'"
    ):
        resolve_variants("tflite-fp32,tflite-int4")
    with pytest.raises(ConfigError, match="No variant given"):
        resolve_variants("")


def test_options_reject_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"Unknown convert option\(s\) \['optimise'\]"):
        ConvertOptions.from_dict({"optimise": True})


def test_options_parse_and_validate() -> None:
    opts = ConvertOptions.from_dict(
        {"opset": "15", "calibration_method": "entropy", "activation_type": "int8",
         "keep_float": ["a", "b"]}
    )  # fmt: skip
    assert opts.opset == 15
    assert opts.calibration_method is CalibrationMethod.ENTROPY
    assert opts.activation_type is ActivationType.INT8
    assert opts.keep_float == ("a", "b")
    assert opts.to_dict()["calibration_method"] == "entropy"
    with pytest.raises(ConfigError, match=r"opset must be between 13 and 18\. Got: 9"):
        ConvertOptions(opset=9)
    with pytest.raises(ConfigError, match="at least 10 samples"):
        ConvertOptions(calibration_samples=5)
    with pytest.raises(ConfigError, match="calibration_method in"):
        ConvertOptions.from_dict({"calibration_method": "kl"})
    with pytest.raises(ConfigError, match="Convert option opset expects an integer"):
        ConvertOptions.from_dict({"opset": "new"})


def test_spec_needs_calibration_data() -> None:
    spec = ConversionSpec(VARIANTS["tflite-int8"])
    assert spec.variant.precision is Precision.INT8
    with pytest.raises(ConfigError, match="needs calibration data"):
        spec.calibration_batches()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"keep_float": "dense"}, "keep_float expects a list of layer or node names"),
        ({"per_channel": "false"}, "per_channel expects true or false"),
        ({"opset": 17.9}, "opset expects an integer"),
        ({"opset": "new"}, "opset expects an integer"),
        ({"calibration_samples": float("inf")}, "calibration_samples expects an integer"),
    ],
)
def test_option_values_of_the_wrong_type_are_refused(options, message):
    """A string "false" is truthy and "dense" would become five letters: refuse, don't guess."""
    with pytest.raises(ConfigError, match=f"Convert option {message}"):
        ConvertOptions.from_dict(options)
    assert ConvertOptions.from_dict({"opset": 17.0}).opset == 17


def test_route_ladders_are_data() -> None:
    from edgeship.convert.routes import explain_runtime_failures, ladder
    from edgeship.convert.variants import VARIANTS, ConversionSpec

    int16 = ladder("tflite-int16x8")
    assert [r.name for r in int16] == ["int16x8", "int16x8+float-ops", "int16x8+keep-float"]
    # float-ops only after a converter error; keep-float only after a file no interpreter ran
    converted, unconverted = {"sha256": "ab", "parity": None}, {"sha256": None, "parity": None}
    assert [r.applies(converted) for r in int16[1:]] == [False, True]
    assert [r.applies(unconverted) for r in int16[1:]] == [True, False]
    assert not int16[2].applies({"sha256": "ab", "parity": {"cosine": 0.5}})
    assert [r.name for r in ladder("onnx-fp16")] == ["fp16", "fp16+loops-float32", "from-tflite"]
    assert [r.name for r in ladder("onnx-fp32")] == ["default", "from-tflite"]
    assert [r.name for r in ladder("tflite-fp32")] == ["default"]
    assert ConversionSpec(VARIANTS["onnx-fp16"]).route == "fp16"
    with pytest.raises(
        ConfigError, match=r"has no route 'fp16'. Expected one of \['default', 'from-tflite'\]"
    ):
        ConversionSpec(VARIANTS["onnx-fp32"], route="fp16")
    verdict = (
        "BackendError: litert 2.3.0 cannot run m.tflite: no_integer_overflow_from_quantization "
        "was not true.Node number 15 (DEPTHWISE_CONV_2D) failed to prepare."
    )
    (message,) = explain_runtime_failures(
        {"litert 2.3.0": verdict, "tf-lite 2.21.0": "ok"}, "tflite-int16x8", "int16x8"
    )
    assert message.startswith("litert 2.3.0 cannot prepare or run operator DEPTHWISE_CONV_2D")
    assert "(route int16x8)" in message and "tflite-int8-float-io" in message
