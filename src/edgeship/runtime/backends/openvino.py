"""OpenVINO backend: .onnx and .tflite files on a CPU, GPU, NPU or AUTO device.

The device is a session option (``device="GPU"``); the default is ``CPU``. A device this
machine does not have is refused before any model is compiled, naming those it has. On the
CPU, inference runs in float32 (``INFERENCE_PRECISION_HINT``), so a CPU with bf16 units
gives the same numbers as one without; ``threads`` sets ``INFERENCE_NUM_THREADS``.

OpenVINO reads a quantized .tflite model's integer inputs and outputs but not their scale
and zero point; those are read from the file's flatbuffer, so float inputs are quantized and
integer outputs dequantized as on the TFLite backends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import BackendError, ConfigError, ModelLoadError
from edgeship.runtime.backends import (
    BACKENDS,
    Session,
    SessionOptions,
    _version,
    refuse_delegates,
)
from edgeship.runtime.specs import TensorSpec

#: Device names OpenVINO takes (a device may also carry an index, e.g. ``GPU.1``).
DEVICES = ("CPU", "GPU", "NPU", "AUTO")
_OV_DTYPES = {
    "f32": "float32",
    "f16": "float16",
    "f64": "float64",
    "i8": "int8",
    "u8": "uint8",
    "i16": "int16",
    "u16": "uint16",
    "i32": "int32",
    "u32": "uint32",
    "i64": "int64",
    "u64": "uint64",
    "boolean": "bool",
    "string": "str",
}


def device_name(device: str | None) -> str:
    """Return the OpenVINO device name for ``device`` (None: ``CPU``), upper-cased.

    Raises:
        ConfigError: not a device name OpenVINO knows.
    """
    if device is None:
        return "CPU"
    if not isinstance(device, str) or device.split(".")[0].split(":")[0].upper() not in DEVICES:
        raise ConfigError(
            f"Unknown OpenVINO device {device!r}. Expected one of {', '.join(DEVICES)} "
            "(optionally with an index, e.g. 'GPU.1')."
        )
    return device.upper()


def check_device(device: str | None, available: Sequence[str]) -> str:
    """Return the OpenVINO device name for ``device`` (None: ``CPU``).

    Raises:
        ConfigError: not a device name OpenVINO knows.
        BackendError: a device this machine does not have.
    """
    name = device_name(device)
    base = name.split(":")[0]
    if base == "AUTO":
        return name
    if name not in available and not (
        "." not in name and any(a.split(".")[0] == name for a in available)
    ):
        raise BackendError(
            f"OpenVINO device {name!r} is not available on this machine. Available: "
            f"{', '.join(available) or 'none'}. Pick one of those (e.g. device='CPU'), or "
            "install the device's driver (GPU: the compute runtime; NPU: the NPU driver)."
        )
    return name


def _quantization(data: bytes) -> dict[str, tuple[float, int]]:
    """``{tensor name: (scale, zero point)}`` of the .tflite model ``data``."""
    from edgeship.runtime.tflite_tensors import tensor_infos

    return {n: t.quantization for n, t in tensor_infos(data).items() if t.quantization}


def _spec(port: Any, quant: dict[str, tuple[float, int]]) -> TensorSpec:
    shape = port.get_partial_shape()
    dims = tuple(None if d.is_dynamic else int(d.get_length()) for d in shape)
    dtype = port.get_element_type().get_type_name()
    dtype = _OV_DTYPES.get(dtype, dtype)
    names = port.get_names()
    name = port.get_any_name() if names else f"port{port.get_index()}"
    q = next((quant[n] for n in names if n in quant), None) if dtype in ("int8", "uint8") else None
    return TensorSpec(name=str(name), shape=dims, dtype=dtype, quantization=q)


class OpenVINOSession(Session):
    """An OpenVINO compiled model and one infer request (not thread-safe: the Engine locks)."""

    def __init__(self, path: str, data: bytes | None, options: SessionOptions) -> None:
        ov = require("openvino", BACKENDS["openvino"].extra, "run models on OpenVINO")
        self.backend = "openvino"
        self.version = str(getattr(ov, "__version__", "") or _version(BACKENDS["openvino"]))
        core = ov.Core()
        self.device = check_device(options.device, list(core.available_devices))
        config: dict[str, Any] = {}
        if self.device == "CPU":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if options.threads and self.device in ("CPU", "AUTO"):
            config["INFERENCE_NUM_THREADS"] = int(options.threads)
        model, quant = _read(core, path, data)
        try:
            self._compiled = core.compile_model(model, self.device, config)
        except Exception as exc:  # OpenVINO raises plain RuntimeErrors from its plugins
            raise BackendError(
                f"OpenVINO {self.version} could not compile {path} for {self.device}: "
                f"{_first_line(exc)}. The model uses an operation or shape this device "
                "lacks; try device='CPU' or another backend."
            ) from exc
        self.inputs = tuple(_spec(p, quant) for p in model.inputs)
        self.outputs = tuple(_spec(p, quant) for p in model.outputs)
        self._request = self._compiled.create_infer_request()
        # Each input is set as a Tensor over the caller's array, then infer() runs with no
        # arguments and no output copies: infer(arrays) converts its arguments and copies
        # every output per call, ~20-45 us of CPU (measured on the digits CNN and MobileNetV2).
        self._tensor = ov.Tensor
        self._set_input = self._request.set_input_tensor
        self._infer = self._request.infer
        self._out_tensor = self._request.get_output_tensor
        self._n_out = len(self.outputs)

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            held = [_shareable(x) for x in arrays]  # alive until infer returns
            for i, x in enumerate(held):
                self._set_input(i, self._tensor(x, shared_memory=True))
            self._infer(share_outputs=True)
            return [self._out_tensor(i).data.copy() for i in range(self._n_out)]
        except Exception as exc:
            raise BackendError(f"OpenVINO failed to run the model: {_first_line(exc)}") from exc

    def run1(self, x: np.ndarray) -> np.ndarray:
        try:
            x = _shareable(x)  # the Tensor does not own it: held by this frame until infer returns
            self._set_input(0, self._tensor(x, shared_memory=True))
            self._infer(share_outputs=True)
            return self._out_tensor(0).data.copy()  # type: ignore[no-any-return]
        except Exception as exc:
            raise BackendError(f"OpenVINO failed to run the model: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._request = self._compiled = None
        self._infer = self._out_tensor = self._set_input = _closed


def _shareable(x: np.ndarray) -> np.ndarray:
    """``x``, or a C-ordered copy where it is not C-contiguous or not writable: OpenVINO
    shares the memory of such arrays only."""
    flags = x.flags
    return x if flags.c_contiguous and flags.writeable else np.array(x, order="C")


def _read(core: Any, path: str, data: bytes | None) -> tuple[Any, dict[str, tuple[float, int]]]:
    """The model of ``data`` (or of the file ``path``) and its quantized tensors' parameters.

    OpenVINO reads .onnx bytes directly; a .tflite file only from a path, so checked bytes go
    through a private temporary file."""
    is_tflite = data[4:8] == b"TFL3" if data is not None else path.lower().endswith(".tflite")
    if data is None and is_tflite:
        with open(path, "rb") as fh:
            data = fh.read()
    try:
        if not is_tflite:
            model = core.read_model(data if data is not None else path)
            return model, {}
        fd, tmp = tempfile.mkstemp(suffix=".tflite", prefix="edgeship-ov-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)  # type: ignore[arg-type]
            model = core.read_model(tmp)
        finally:
            os.unlink(tmp)
        return model, _quantization(data)  # type: ignore[arg-type]
    except Exception as exc:
        if isinstance(exc, (BackendError, ModelLoadError)):
            raise
        raise ModelLoadError(
            f"OpenVINO could not read {path}: {_first_line(exc)}. Expected a valid .onnx or "
            ".tflite model whose operations OpenVINO's frontend knows; re-export the model "
            "or use another backend."
        ) from exc


def _closed(*_: Any, **__: Any) -> Any:
    raise BackendError("This engine is closed. Load the model again with edgeship.runtime.load().")


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # OpenVINO's messages start with "Exception from src/...cpp:N:" lines; the cause follows.
    useful = [ln for ln in lines if not ln.startswith("Exception from ")]
    return (useful or lines or [type(exc).__name__])[0]


def preload(name: str) -> None:
    """Import openvino (no model is opened)."""
    require("openvino", BACKENDS["openvino"].extra, "run models on OpenVINO")


def open_session(name: str, path: str, data: bytes | None, options: SessionOptions) -> Session:
    """Open a .onnx or .tflite model on OpenVINO, on ``options.device`` (default CPU)."""
    refuse_delegates(name, options, "'CPU'|'GPU'|'NPU'|'AUTO'")
    return OpenVINOSession(path, data, options)
