"""The variants ``convert`` can build, their options and their parity tolerances (as data).

Variant names are a public contract (``tflite-fp32`` ... ``onnx-int8``). Each one is a frozen
:class:`VariantSpec`; the knobs a user may turn are one frozen :class:`ConvertOptions`, built
with :meth:`ConvertOptions.from_dict`, which rejects unknown keys instead of passing them on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from edgeship.convert.input_shapes import parse_input_shapes
from edgeship.errors import ConfigError
from edgeship.typecheck import check_fields


class ArtifactFormat(str, Enum):
    """File format of an artifact."""

    TFLITE = "tflite"
    ONNX = "onnx"


class Precision(str, Enum):
    """Numeric scheme of a variant."""

    FP32 = "fp32"
    FP16 = "fp16"
    DYNAMIC = "dynamic"
    INT8 = "int8"
    INT8_FLOAT_IO = "int8-float-io"
    INT16X8 = "int16x8"


class CalibrationMethod(str, Enum):
    """ONNX Runtime static-quantization calibration method."""

    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class ActivationType(str, Enum):
    """Activation type of ONNX static int8 (QDQ) models: uint8 ran faster on x86 here."""

    UINT8 = "uint8"
    INT8 = "int8"


@dataclass(frozen=True)
class Tolerance:
    """How far a variant may stray from the source model on the eval data.

    A variant passes when ``max_abs_error <= atol + rtol * max|reference|`` (when ``atol`` is
    set), ``cosine >= min_cosine`` (when set) and ``top1_agreement >= min_top1_agreement``
    (when set and the outputs are class scores). The accuracy gate (``max_accuracy_drop``)
    is applied on top of these by :func:`edgeship.convert.convert`.

    Without labels there is no accuracy to gate on: then the ``unlabeled_*`` limits gate too
    (``max_abs_error <= unlabeled_atol + unlabeled_rtol * max|reference|``, ``cosine >=
    unlabeled_min_cosine``); with labels they are checked and reported beside the accuracy.
    """

    atol: float | None = None
    rtol: float = 0.0
    min_cosine: float | None = None
    min_top1_agreement: float | None = None
    unlabeled_atol: float | None = None
    unlabeled_rtol: float = 0.0
    unlabeled_min_cosine: float | None = None


@dataclass(frozen=True)
class VariantSpec:
    """One buildable variant: its name, file format, precision and tolerance."""

    name: str
    format: ArtifactFormat
    precision: Precision
    tolerance: Tolerance
    description: str

    @property
    def suffix(self) -> str:
        """File extension including the dot."""
        return "." + self.format.value

    @property
    def filename(self) -> str:
        """File name of the artifact inside the output directory."""
        return self.name + self.suffix

    @property
    def needs_calibration(self) -> bool:
        """True when the variant needs representative (calibration) data."""
        return self.precision in (Precision.INT8, Precision.INT8_FLOAT_IO, Precision.INT16X8)


# Float variants gate on their error always; quantized ones on accuracy, and on their error
# where there are no labels (int8 outputs may move by about a quarter of their range).
_FP32 = Tolerance(atol=1e-4, rtol=1e-5, min_cosine=0.99999)
_FP16 = Tolerance(atol=5e-3, rtol=5e-3, min_cosine=0.9995)
_DYNAMIC = Tolerance(
    min_cosine=0.95, unlabeled_atol=0.05, unlabeled_rtol=0.15, unlabeled_min_cosine=0.99
)
_INT8 = Tolerance(
    min_cosine=0.95, unlabeled_atol=0.05, unlabeled_rtol=0.3, unlabeled_min_cosine=0.98
)
_INT16 = Tolerance(
    min_cosine=0.99, unlabeled_atol=0.02, unlabeled_rtol=0.05, unlabeled_min_cosine=0.999
)

#: The error each precision is held to against the Keras model.
TOLERANCES: dict[Precision, Tolerance] = {
    Precision.FP32: _FP32,
    Precision.FP16: _FP16,
    Precision.DYNAMIC: _DYNAMIC,
    Precision.INT8: _INT8,
    Precision.INT8_FLOAT_IO: _INT8,
    Precision.INT16X8: _INT16,
}

_TFLITE, _ONNX = ArtifactFormat.TFLITE, ArtifactFormat.ONNX
_P = Precision
#: Every buildable variant: its format, precision and description; named ``FORMAT-PRECISION``.
_BUILDABLE = (
    (_TFLITE, _P.FP32, "TFLite float32"),
    (_TFLITE, _P.FP16, "TFLite float16 weights"),
    (_TFLITE, _P.DYNAMIC, "TFLite dynamic-range (int8 weights, float activations)"),
    (_TFLITE, _P.INT8, "TFLite full integer, int8 input and output"),
    (_TFLITE, _P.INT8_FLOAT_IO, "TFLite full integer inside, float32 input and output"),
    (_TFLITE, _P.INT16X8, "TFLite int16 activations, int8 weights, float32 input and output"),
    (_ONNX, _P.FP32, "ONNX float32"),
    (_ONNX, _P.FP16, "ONNX float16, float32 I/O"),
    (_ONNX, _P.DYNAMIC, "ONNX Runtime dynamic quantization (int8 weights)"),
    (_ONNX, _P.INT8, "ONNX Runtime static quantization (QDQ, per-channel)"),
)

VARIANTS: dict[str, VariantSpec] = {
    spec.name: spec
    for spec in (
        VariantSpec(f"{fmt.value}-{p.value}", fmt, p, TOLERANCES[p], description)
        for fmt, p, description in _BUILDABLE
    )
}
#: The microcontroller target (see :mod:`edgeship.convert.mcu`): tflite-int8's model, run and
#: checked in TFLite Micro, with its arena, flash size and a ready-to-compile bundle.
VARIANTS["tflm-int8"] = VariantSpec(
    "tflm-int8",
    _TFLITE,
    _P.INT8,
    TOLERANCES[_P.INT8],
    "TFLite Micro full integer, with a C++ bundle (model array, op resolver, arena size)",
)

#: Named selections of variants, accepted wherever variant names are: ``default`` (what
#: ``convert`` builds unless told otherwise) and ``all`` (every variant, what the pipeline builds).
PRESETS: dict[str, tuple[str, ...]] = {
    "default": ("tflite-fp32", "tflite-int8", "onnx-fp32"),
    "all": tuple(VARIANTS),
}

DEFAULT_OPSET = 17
MIN_OPSET = 13
MAX_OPSET = 18


@dataclass(frozen=True)
class ConvertOptions:
    """Converter settings shared by every variant of one convert.

    Attributes:
        opset: ONNX opset for tf2onnx (13..18).
        calibration_method: ONNX static-quantization calibration method.
        activation_type: ONNX static-quantization activation type (uint8 for x86).
        per_channel: per-channel weight quantization for ONNX static int8.
        calibration_samples: how many calibration samples to use (at least 10).
        tflite_legacy_dense: quantize dense layers per tensor in dynamic-range TFLite models,
            so that tflite-runtime 2.14 can run them.
        tflite_int8_per_channel_dense: quantize dense weights of full-integer TFLite variants
            per channel. Off by default: TFLite's int8 quantization spec (which NPU and Edge
            TPU delegates implement) has per-tensor FULLY_CONNECTED weights.
        keep_float: layer (TFLite) or node (ONNX) names to leave in float.
        debug_quant: write the per-layer error of quantized artifacts (int8, int16x8,
            dynamic range) against the float model (``<variant>.quant-debug.csv``) and
            record the worst layers.
        auto_keep_float: when a calibrated variant fails its gate, keep layers in float
            where that measurably helps (among the five worst-ranked layers; see
            :mod:`edgeship.convert.keep_float`).
        batch_size: fix the batch dimension of every artifact (e.g. 1 for the Edge TPU
            compiler and NPU toolchains, which need static shapes). None keeps it free; the
            runtime feeds larger batches in chunks of the fixed size. Keras models only.
        input_shapes: whole shapes of named inputs, batch first (``"token_ids=1x128"``):
            dynamic dimensions such as a sequence length fixed for targets that need static
            shapes; applied after ``batch_size``. Keras models only.
        board: a microcontroller budget preset (:data:`edgeship.convert.boards.BOARDS`, e.g.
            ``cortex-m4-256k``) that gates the tflm-int8 variant's arena and flash.
        max_arena_kb: the tflm-int8 tensor arena budget in KiB (overrides the board's RAM).
        max_flash_kb: the tflm-int8 model (flash) budget in KiB (overrides the board's).
    """

    opset: int = DEFAULT_OPSET
    calibration_method: CalibrationMethod = CalibrationMethod.MINMAX
    activation_type: ActivationType = ActivationType.UINT8
    per_channel: bool = True
    calibration_samples: int = 200
    tflite_legacy_dense: bool = False
    tflite_int8_per_channel_dense: bool = False
    keep_float: tuple[str, ...] = field(default_factory=tuple)
    debug_quant: bool = False
    auto_keep_float: bool = False
    batch_size: int | None = None
    input_shapes: tuple[str, ...] = field(default_factory=tuple)
    board: str | None = None
    max_arena_kb: float | None = None
    max_flash_kb: float | None = None

    def __post_init__(self) -> None:
        check_fields(self, "Convert option")
        self.mcu_budget()  # an unknown board or a bad limit fails here, before any work
        parse_input_shapes(self.input_shapes)
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(
                f"A fixed batch size must be a positive integer (e.g. 1). Got: {self.batch_size!r}"
            )
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ConfigError(
                f"ONNX opset must be between {MIN_OPSET} and {MAX_OPSET}. Got: {self.opset}. "
                f"Pass e.g. --opset {DEFAULT_OPSET}."
            )
        if self.calibration_samples < 10:
            raise ConfigError(
                "Calibration needs at least 10 samples. "
                f"Got: calibration_samples={self.calibration_samples}."
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConvertOptions:
        """Build options from a plain dict; unknown keys and bad values raise ConfigError."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"Unknown convert option(s) {unknown}. Expected some of {sorted(known)}."
            )
        try:
            if "calibration_method" in data:
                data["calibration_method"] = CalibrationMethod(str(data["calibration_method"]))
            if "activation_type" in data:
                data["activation_type"] = ActivationType(str(data["activation_type"]))
        except ValueError as exc:
            raise ConfigError(
                f"{exc}. Expected calibration_method in {[m.value for m in CalibrationMethod]} "
                f"and activation_type in {[a.value for a in ActivationType]}."
            ) from exc
        if "keep_float" in data:
            names = data["keep_float"]
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
                raise ConfigError(
                    f"Convert option keep_float expects a list of layer or node names. "
                    f"Got: {names!r}"
                )
            data["keep_float"] = tuple(names)
        if isinstance(data.get("input_shapes"), list):
            data["input_shapes"] = tuple(data["input_shapes"])
        for key in ("opset", "calibration_samples", "batch_size"):  # "15" is unambiguous
            if isinstance(data.get(key), str) and data[key].strip().isdigit():
                data[key] = int(data[key])
        return cls(**data)

    def mcu_budget(self) -> Any:
        """The microcontroller budget (:class:`edgeship.convert.boards.Budget`) they set."""
        from edgeship.convert.boards import Budget

        return Budget.from_settings(self.board, self.max_arena_kb, self.max_flash_kb)

    def with_changes(self, **changes: Any) -> ConvertOptions:
        """Return a copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (enums as their values)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, Enum) else value
        for key in ("keep_float", "input_shapes"):
            if isinstance(out[key], tuple):
                out[key] = list(out[key])
        return out


def resolve_variants(variants: str | tuple[str, ...] | list[str]) -> tuple[VariantSpec, ...]:
    """Turn ``"all"``, ``"a,b"`` or a sequence of names (or :data:`PRESETS`) into specs, in a
    stable order.

    Raises:
        ConfigError: for an unknown name or an empty selection.
    """
    if isinstance(variants, str):
        names = [v.strip() for v in variants.split(",") if v.strip()]
    else:
        names = [str(v).strip() for v in variants]
    if "all" in names:
        return tuple(VARIANTS.values())
    names = [n for name in names for n in PRESETS.get(name, (name,))]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ConfigError(
            f"Unknown variant(s) {unknown}. Expected 'all' or names from: {', '.join(VARIANTS)}."
        )
    if not names:
        raise ConfigError(f"No variant given. Expected 'all' or some of: {', '.join(VARIANTS)}.")
    seen = dict.fromkeys(names)
    return tuple(VARIANTS[n] for n in seen)


@dataclass(frozen=True)
class ConversionSpec:
    """Everything one converter call needs besides the model: variant, options, data.

    ``calibration`` holds representative inputs by input name (already preprocessed model
    inputs), required for variants whose ``needs_calibration`` is true and for ONNX static
    quantization.
    """

    variant: VariantSpec
    options: ConvertOptions = field(default_factory=ConvertOptions)
    calibration: dict[str, Any] | None = None
    route: str = ""

    def __post_init__(self) -> None:
        from edgeship.convert.routes import check_route

        object.__setattr__(self, "route", check_route(self.variant.name, self.route))

    def debug_setup(self, path: Path) -> tuple[Path | None, dict[str, Any]]:
        """``--debug-quant`` of the artifact at ``path``: where its per-layer errors go
        (``<variant>.quant-debug.csv`` beside it), or None and the params that say why it
        cannot run (no calibration samples to run the debugger on)."""
        if not self.calibration:
            reason = "no calibration samples to run the debugger on (pass --calibration "
            return None, {"quant_debug_error": reason + "FILE.npz or a dataset name)"}
        return path.with_name(f"{self.variant.name}.quant-debug.csv"), {}

    def calibration_batches(self) -> list[dict[str, Any]]:
        """The calibration samples as one-sample batches (dicts by input name)."""
        if not self.calibration:
            raise ConfigError(
                f"Variant {self.variant.name} needs calibration data. Expected "
                "--calibration with an .npz, a dataset name, or a card with calibration.npz."
            )
        count = min(len(v) for v in self.calibration.values())
        return [
            {name: value[i : i + 1] for name, value in self.calibration.items()}
            for i in range(count)
        ]
