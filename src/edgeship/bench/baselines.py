"""Raw backend loops without edgeship in them, so every report shows the harness's overhead.

A raw session talks to the backend package directly (``ai_edge_litert`` / ``tflite_runtime``
interpreter, ``onnxruntime.InferenceSession``) with inputs already of the stored dtype and
shape; the only work per query is set-tensor, invoke, get-tensor. The Keras baseline lives in
:mod:`edgeship.bench.keras_child` and only ever runs in a child process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import BackendError, ConfigError
from edgeship.versions import package_version

#: Raw baseline backends: name -> (format, interpreter module, distribution, extra).
RAW_BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "litert": ("tflite", "ai_edge_litert.interpreter", "ai-edge-litert", "litert"),
    "tflite-runtime": ("tflite", "tflite_runtime.interpreter", "tflite-runtime", "tflite"),
    "onnxruntime": ("onnx", "onnxruntime", "onnxruntime", "onnx"),
    "openvino": ("onnx", "openvino", "openvino", "openvino"),
    "litert-compiled": ("tflite", "ai_edge_litert.compiled_model", "ai-edge-litert", "litert"),
}


@dataclass(frozen=True)
class RawSpec:
    """One input or output of a raw session."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    quantization: tuple[float, int] | None = None


class RawSession:
    """A model loaded straight into its backend; ``predict`` takes stored-dtype arrays."""

    backend: str
    backend_version: str | None
    inputs: tuple[RawSpec, ...]

    def predict(self, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one query; ``batch`` maps input names to arrays of the stored dtype."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the backend's resources."""


class _TFLiteRaw(RawSession):
    def __init__(self, backend: str, path: str, threads: int | None) -> None:
        module = require(RAW_BACKENDS[backend][1], RAW_BACKENDS[backend][3], "run a raw baseline")
        self.backend = backend
        self.backend_version = package_version(RAW_BACKENDS[backend][2])
        self._interp = module.Interpreter(model_path=path, num_threads=threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = tuple(_tflite_spec(d) for d in self._in)
        self._shapes = {d["name"]: tuple(d["shape"]) for d in self._in}

    def predict(self, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        interp = self._interp
        resized = False
        for d in self._in:
            arr = batch[d["name"]]
            if arr.shape != self._shapes[d["name"]]:
                interp.resize_tensor_input(d["index"], list(arr.shape))
                self._shapes[d["name"]] = arr.shape
                resized = True
        if resized:
            interp.allocate_tensors()
        for d in self._in:
            interp.set_tensor(d["index"], batch[d["name"]])
        interp.invoke()
        return [interp.get_tensor(o["index"]) for o in self._out]


class _OrtRaw(RawSession):
    def __init__(self, path: str, threads: int | None, providers: Sequence[Any] | None) -> None:
        ort = require("onnxruntime", "onnx", "run a raw baseline")
        self.backend = "onnxruntime"
        self.backend_version = getattr(ort, "__version__", None)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._sess = ort.InferenceSession(
            path, options, providers=list(providers or ["CPUExecutionProvider"])
        )
        self.inputs = tuple(
            RawSpec(
                i.name,
                tuple(d if isinstance(d, int) else None for d in i.shape),
                _ort_dtype(i.type),
            )
            for i in self._sess.get_inputs()
        )

    def predict(self, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self._sess.run(None, batch))


def _quantization(path: str) -> dict[str, tuple[float, int]]:
    """Scale and zero point of the quantized tensors of a .tflite file (none for .onnx)."""
    if not path.endswith(".tflite"):
        return {}
    from edgeship.runtime.tflite_tensors import tensor_infos

    with open(path, "rb") as fh:
        infos = tensor_infos(fh.read())
    return {name: t.quantization for name, t in infos.items() if t.quantization}


class _OpenVINORaw(RawSession):
    """``infer_request.infer`` on an OpenVINO CPU model (float32, ``threads`` threads)."""

    def __init__(self, path: str, threads: int | None) -> None:
        ov = require("openvino", "openvino", "run a raw baseline")
        self.backend, self.backend_version = "openvino", package_version("openvino")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = ov.Core().compile_model(path, "CPU", config)
        quant = _quantization(path)
        self.inputs = tuple(
            RawSpec(
                p.get_any_name(),
                tuple(None if d.is_dynamic else d.get_length() for d in p.get_partial_shape()),
                np.dtype(p.get_element_type().to_dtype()).name,
                quant.get(p.get_any_name()),
            )
            for p in compiled.inputs
        )
        self._request = compiled.create_infer_request()
        self._outputs = len(compiled.outputs)

    def predict(self, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = self._request
        request.infer([batch[s.name] for s in self.inputs], share_inputs=True)
        return [request.get_output_tensor(i).data.copy() for i in range(self._outputs)]


class _CompiledRaw(RawSession):
    """LiteRT CompiledModel on the CPU: buffer ``write``, ``run_by_index``, buffer ``read``."""

    def __init__(self, path: str, threads: int | None) -> None:
        cm = require("ai_edge_litert.compiled_model", "litert", "run a raw baseline")
        options = require("ai_edge_litert.options", "litert", "run a raw baseline")
        self.backend = "litert-compiled"
        self.backend_version = package_version("ai-edge-litert")
        cpu = options.CpuOptions(num_threads=threads or 0)
        model = cm.CompiledModel.from_file(
            path, options=options.Options(cm.HardwareAccelerator.CPU, cpu_options=cpu)
        )
        signature = next(iter(model.get_signature_list()))
        quant = _quantization(path)
        details = model.get_input_tensor_details(signature).values()
        self.inputs = tuple(
            RawSpec(d["name"], tuple(d["shape"]), np.dtype(d["dtype"]).name, quant.get(d["name"]))
            for d in details
        )
        self._model, self._ins = model, model.create_input_buffers(0)
        self._outs = model.create_output_buffers(0)
        self._read = []
        for buffer in self._outs:
            shape = tuple(buffer.get_tensor_details()["shape"])
            dtype = np.dtype(buffer.get_tensor_details()["dtype"])
            self._read.append((buffer.read, int(np.prod(shape)), dtype, shape))

    def predict(self, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        for buffer, spec in zip(self._ins, self.inputs, strict=True):
            buffer.write(batch[spec.name])
        self._model.run_by_index(0, self._ins, self._outs)
        return [read(size, dtype).reshape(shape) for read, size, dtype, shape in self._read]


def _tflite_spec(d: dict[str, Any]) -> RawSpec:
    sig = d.get("shape_signature")
    dims = sig if sig is not None and len(sig) else d["shape"]
    scale, zero = d.get("quantization", (0.0, 0))
    quant = (float(scale), int(zero)) if scale else None
    shape = tuple(None if int(x) < 0 else int(x) for x in dims)
    return RawSpec(d["name"], shape, np.dtype(d["dtype"]).name, quant)


_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def _ort_dtype(type_name: str) -> str:
    return _ORT_TYPES.get(type_name, "float32")


def open_raw(
    path: str, backend: str, threads: int | None = None, providers: Sequence[Any] | None = None
) -> RawSession:
    """Open ``path`` directly on ``backend`` (one of :data:`RAW_BACKENDS`)."""
    if backend not in RAW_BACKENDS:
        raise ConfigError(
            f"No raw baseline for backend {backend!r}. Expected one of: {', '.join(RAW_BACKENDS)}."
        )
    try:
        if backend == "openvino":
            return _OpenVINORaw(path, threads)
        if backend == "litert-compiled":
            return _CompiledRaw(path, threads)
        if RAW_BACKENDS[backend][0] == "onnx":
            return _OrtRaw(path, threads, providers)
        return _TFLiteRaw(backend, path, threads)
    except ImportError:
        raise
    except Exception as exc:
        raise BackendError(f"Raw {backend} could not load {path}: {exc}") from exc


def to_stored(spec: RawSpec, arr: np.ndarray) -> np.ndarray:
    """Cast (and quantize, for affine-quantized inputs) ``arr`` to the stored dtype."""
    dtype = np.dtype(spec.dtype)
    arr = np.asarray(arr)
    if dtype.kind in "iu" and arr.dtype.kind == "f" and spec.quantization:
        scale, zero = spec.quantization
        info = np.iinfo(dtype)
        q = np.clip(np.round(arr / scale + zero), info.min, info.max)
        return np.ascontiguousarray(q.astype(dtype))
    return np.ascontiguousarray(arr.astype(dtype, copy=False))
