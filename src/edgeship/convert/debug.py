"""Per-layer quantization error (``--debug-quant``), run inside the converter worker.

Both formats measure the artifact that was written, not a model rebuilt for debugging: every
activation of the artifact is compared with the tensor of the same name in the float model on
the calibration samples. TFLite: the artifact and a float TFLite model of the same route run
with all tensors kept; each row gives the artifact's own dtype, scale and zero point, the error
in units of its quantization step (``rmse/scale``), the signal-to-quantization-noise ratio
and how many dB the op loses against its inputs (``sqnr_loss_db``). ONNX: see
:mod:`edgeship.convert.onnx_debug`. Both write a CSV beside the artifact and return the worst
layers, whose names ``--keep-float`` accepts.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.fileio import atomic_write_text

WORST = 5
SQNR_CAP_DB = 100.0


@dataclass
class TensorError:
    """Running error of one tensor over the debug samples."""

    signal: float = 0.0
    noise: float = 0.0
    count: int = 0
    clipped: int = 0
    max_abs: float = 0.0
    local_signal: float = 0.0
    local_noise: float = 0.0
    has_local: bool = False
    shape_mismatch: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        ref64, got64 = np.asarray(ref, np.float64), np.asarray(got, np.float64)
        if ref64.shape != got64.shape:
            self.shape_mismatch = True
            return
        diff = got64 - ref64
        self.signal += float(np.sum(ref64 * ref64))
        self.noise += float(np.sum(diff * diff))
        self.count += ref64.size
        self.max_abs = max(self.max_abs, float(np.max(np.abs(diff))) if diff.size else 0.0)

    def add_local(self, pre: np.ndarray, post: np.ndarray) -> None:
        pre64, post64 = np.asarray(pre, np.float64), np.asarray(post, np.float64)
        if pre64.shape != post64.shape:
            return
        self.has_local = True
        self.local_signal += float(np.sum(pre64 * pre64))
        self.local_noise += float(np.sum((post64 - pre64) ** 2))

    @property
    def rmse(self) -> float | None:
        return math.sqrt(self.noise / self.count) if self.count else None

    @property
    def sqnr_db(self) -> float | None:
        return sqnr_db(self.signal, self.noise) if self.count else None

    @property
    def local_sqnr_db(self) -> float | None:
        return sqnr_db(self.local_signal, self.local_noise) if self.has_local else None


def sqnr_db(signal: float, noise: float) -> float:
    """Signal-to-quantization-noise ratio in dB from sums of squares, capped at 100 dB."""
    if noise <= 0.0:
        return SQNR_CAP_DB
    if signal <= 0.0:
        return 0.0
    return min(SQNR_CAP_DB, 10.0 * math.log10(signal / noise))


# --- TFLite -------------------------------------------------------------------------------


def tflite_layer_errors(
    tf: Any,
    artifact: bytes,
    float_model: bytes,
    dataset: Callable[[], Iterable[Sequence[np.ndarray]]],
    csv_path: Path,
) -> list[str]:
    """Compare every activation of ``artifact`` with the float model; write the CSV.

    Args:
        tf: the TensorFlow module (its interpreter keeps intermediate tensors).
        artifact: the TFLite model that was written (any quantization scheme).
        float_model: a float TFLite model of the same source and route.
        dataset: returns the samples, each a list of float arrays in input order.
        csv_path: where the CSV goes.

    Returns:
        The tensor names of the ops that lose the most signal, worst first.
    """
    quant = tf.lite.Interpreter(model_content=artifact, experimental_preserve_all_tensors=True)
    ref = tf.lite.Interpreter(model_content=float_model, experimental_preserve_all_tensors=True)
    details = {d["name"]: d for d in quant.get_tensor_details()}
    float_index = {d["name"]: d["index"] for d in ref.get_tensor_details()}
    ops = quant._get_ops_details()
    producer = {int(t): op for op in ops for t in op["outputs"]}
    inputs = {int(d["index"]) for d in quant.get_input_details()}
    outputs = {int(d["index"]) for d in quant.get_output_details()}
    reference_of = _references(details, float_index, ops)
    computed = {i for i in producer if not _from_constant(producer[i], producer, inputs)}
    rows_of = [
        d
        for name, d in details.items()
        if name in reference_of and (int(d["index"]) in computed or int(d["index"]) in inputs)
    ]
    stats = {d["name"]: TensorError() for d in rows_of}
    first = True
    for sample in dataset():
        for interpreter in (quant, ref):
            _set_inputs(interpreter, sample, first)
            interpreter.invoke()
        first = False
        for d in rows_of:
            got = _dequantize(quant.get_tensor(d["index"]), d)
            reference = ref.get_tensor(reference_of[d["name"]])
            entry = stats[d["name"]]
            entry.add(reference, got)
            low, high = _representable(d)
            if low is not None:
                entry.clipped += int(np.sum((reference < low) | (reference > high)))
    by_index = {int(d["index"]): d["name"] for d in rows_of}
    rows = []
    for d in rows_of:
        entry, index = stats[d["name"]], int(d["index"])
        op = producer.get(index)
        feeds = [int(i) for i in (op["inputs"] if op else []) if int(i) in computed | inputs]
        upstream = [stats[by_index[i]].sqnr_db for i in feeds if i in by_index]
        scale, zero_point = _quant_params(d)
        own = entry.sqnr_db
        # an activation input without a float twin leaves the loss unknown, not 100 dB
        measured = [u for u in upstream if u is not None]
        loss = None
        if own is not None and len(measured) == len(feeds):
            loss = max(0.0, min(measured, default=SQNR_CAP_DB) - own)
        steps = entry.rmse / scale if scale and entry.rmse is not None else None
        rows.append(
            {
                "op_name": op["op_name"] if op else "INPUT",
                "tensor_name": d["name"],
                "role": "input" if index in inputs else ("output" if index in outputs else ""),
                "dtype": np.dtype(d["dtype"]).name,
                "scale": f"{scale:.6g}" if scale else "",
                "zero_point": str(zero_point) if scale else "",
                "rmse": fmt(entry.rmse),
                "rmse/scale": fmt(steps),
                "max_abs_error": fmt(entry.max_abs if entry.count else None),
                "sqnr_db": fmt(own),
                "sqnr_loss_db": fmt(loss),
                "clipped": fmt(entry.clipped / entry.count if entry.count and scale else None),
            }
        )
    write_csv(csv_path, rows)
    ranked = sorted(
        (
            r
            for r in rows
            if r["op_name"] not in ("INPUT", "QUANTIZE", "DEQUANTIZE")
            and r["sqnr_loss_db"]
            and float(r["sqnr_loss_db"]) > 0.0
        ),
        key=lambda r: -float(r["sqnr_loss_db"]),
    )
    return [r["tensor_name"] for r in ranked[:WORST]]


def _from_constant(op: dict[str, Any], producer: dict[int, Any], inputs: set[int]) -> bool:
    """A DEQUANTIZE of stored weights (float16 or int8), not of an activation."""
    if op["op_name"] != "DEQUANTIZE":
        return False
    source = int(op["inputs"][0])
    return source not in producer and source not in inputs


def _references(
    details: dict[str, dict[str, Any]], float_index: dict[str, int], ops: list[dict[str, Any]]
) -> dict[str, int]:
    """Float tensor index for each artifact tensor: the same name, or through a
    QUANTIZE/DEQUANTIZE (e.g. ``image_int16`` compares with the float ``image``)."""
    names = {int(d["index"]): name for name, d in details.items()}
    found = {name: index for name, index in float_index.items() if name in details}
    changed = True
    while changed:
        changed = False
        for op in ops:
            if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE"):
                continue
            a, b = names.get(int(op["inputs"][0])), names.get(int(op["outputs"][0]))
            for src, dst in ((a, b), (b, a)):
                if src in found and dst is not None and dst not in found:
                    found[dst] = found[src]
                    changed = True
    return found


def _set_inputs(interpreter: Any, sample: Sequence[np.ndarray], first: bool) -> None:
    details = interpreter.get_input_details()
    if first:
        for d, value in zip(details, sample, strict=True):
            interpreter.resize_tensor_input(d["index"], np.shape(value))
        interpreter.allocate_tensors()
    for d, value in zip(details, sample, strict=True):
        array = np.asarray(value)
        scale, zero_point = _quant_params(d)
        if scale and array.dtype.kind == "f" and np.dtype(d["dtype"]).kind in "iu":
            info = np.iinfo(d["dtype"])
            array = np.clip(np.round(array / scale) + zero_point, info.min, info.max)
        interpreter.set_tensor(d["index"], array.astype(d["dtype"]))


def _quant_params(detail: dict[str, Any]) -> tuple[float, int]:
    """Per-tensor scale and zero point of an integer tensor; (0.0, 0) for float tensors."""
    if np.dtype(detail["dtype"]).kind not in "iu":
        return 0.0, 0
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []))
    if scales.size == 1:
        return float(scales[0]), int(np.asarray(params["zero_points"])[0])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def _dequantize(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = _quant_params(detail)
    if not scale:
        return np.asarray(value, np.float64)
    return (np.asarray(value, np.float64) - zero_point) * scale


def _representable(detail: dict[str, Any]) -> tuple[float | None, float | None]:
    scale, zero_point = _quant_params(detail)
    if not scale:
        return None, None
    info = np.iinfo(detail["dtype"])
    return (info.min - zero_point) * scale, (info.max - zero_point) * scale


# --- shared -------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    """A CSV cell: 6 significant digits, empty for None/NaN."""
    if value is None or math.isnan(value):
        return ""
    return f"{value:.6g}"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (same keys) as CSV, atomically."""
    if not rows:
        atomic_write_text(path, "")
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
