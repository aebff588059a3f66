"""LiteRT's CompiledModel backend: .tflite files on a CPU, GPU or NPU accelerator.

The accelerator is a session option (``device="cpu"|"gpu"|"npu"``, default ``cpu``). A GPU or
NPU model is compiled for that accelerator alone, with no silent CPU fallback: where the
accelerator is not present (no Vulkan/WebGPU adapter, no NPU dispatch library) or cannot take
every op, loading fails with a :class:`BackendError` naming it. Ahead-of-time NPU compilation
(``ai_edge_litert.aot`` with a vendor SDK) is not part of this backend.

CompiledModel reports a signature's tensors at their compiled shapes (a free batch dimension is
compiled as 1, and batches run in chunks of it) without their quantization, which is read
from the file (:mod:`edgeship.runtime.tflite_tensors`).
"""

from __future__ import annotations

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

#: Accelerator names the ``device`` option takes.
ACCELERATORS = ("cpu", "gpu", "npu")
_WHY = {
    "gpu": "a GPU with a Vulkan/WebGPU driver (libvulkan) that LiteRT's GPU accelerator can use",
    "npu": "an NPU with its vendor dispatch library (e.g. the Qualcomm, MediaTek or Intel one)",
}


def device_name(device: str | None) -> str:
    """Return the accelerator name for ``device`` (None: ``cpu``).

    Raises:
        ConfigError: not one of cpu, gpu, npu.
    """
    name = "cpu" if device is None else str(device).lower()
    if name not in ACCELERATORS:
        raise ConfigError(
            f"Unknown LiteRT accelerator {device!r}. Expected one of {', '.join(ACCELERATORS)} "
            "(device='cpu' runs everywhere)."
        )
    return name


def _spec(detail: dict[str, Any], infos: dict[str, Any]) -> TensorSpec:
    """The tensor at its compiled shape: CompiledModel (ai-edge-litert 2.3) resizes inputs but
    keeps its output buffers at the old size, and a run then writes past them (measured: the
    process aborts, "free(): invalid next size"). So every dimension is fixed, and the Engine
    runs other batch sizes in chunks of the compiled batch."""
    info = infos.get(str(detail["name"]))
    shape = tuple(int(d) for d in detail["shape"])
    quant = info.quantization if info is not None else None
    dtype = np.dtype(detail["dtype"]).name
    return TensorSpec(
        name=str(detail["name"]),
        shape=tuple(shape),
        dtype=dtype,
        quantization=quant if np.dtype(dtype).kind in "iu" else None,
    )


class CompiledModelSession(Session):
    """A LiteRT ``CompiledModel``, its first signature, and its input and output buffers."""

    def __init__(self, path: str, data: bytes | None, options: SessionOptions) -> None:
        info = BACKENDS["litert-compiled"]
        cm = require("ai_edge_litert.compiled_model", info.extra, "run CompiledModel")
        opts = require("ai_edge_litert.options", info.extra, "run CompiledModel")
        self.backend = "litert-compiled"
        self.version = _version(info) or "unknown"
        self.accelerator = device_name(options.device)
        self.device = self.accelerator
        accel = cm.HardwareAccelerator
        flag = {"cpu": accel.CPU, "gpu": accel.GPU, "npu": accel.NPU}[self.accelerator]
        if data is None:
            with open(path, "rb") as fh:
                data = fh.read()
        cpu = opts.CpuOptions(num_threads=options.threads or 0)
        model_options = opts.Options(hardware_accelerators=flag, cpu_options=cpu)
        try:
            self._model = cm.CompiledModel.from_buffer(data, options=model_options)
        except RuntimeError as exc:
            raise _compile_error(self.accelerator, path, exc) from exc
        from edgeship.runtime.tflite_tensors import tensor_infos

        infos = tensor_infos(data)
        signature = next(iter(self._model.get_signature_list()))
        # in the signature's order, which is the buffers' order
        ins = list(self._model.get_input_tensor_details(signature).values())
        outs = list(self._model.get_output_tensor_details(signature).values())
        _refuse_unsized_outputs(path, outs, infos)
        self.inputs = tuple(_spec(d, infos) for d in ins)
        self.outputs = tuple(_spec(d, infos) for d in outs)
        self._out_dtypes = [s.np_dtype for s in self.outputs]
        self._shapes = [tuple(int(v) for v in d["shape"]) for d in ins]
        self._buffers()

    def _buffers(self) -> None:
        """Create the input and output buffers for the current shapes."""
        model = self._model
        self._ins = model.create_input_buffers(0)
        self._outs = model.create_output_buffers(0)
        self._in_caps = [b.capsule for b in self._ins]
        self._out_caps = [b.capsule for b in self._outs]
        self._out_shapes = [tuple(b.get_tensor_details()["shape"]) for b in self._outs]
        self._sizes = [int(np.prod(shape)) for shape in self._out_shapes]
        self._run = model._model.RunByIndex  # the wrapper's run_by_index, less its list copies
        self._write = [b.write for b in self._ins]
        self._read = [b.read for b in self._outs]

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if any(a.shape != s for a, s in zip(arrays, self._shapes, strict=False)):
            raise BackendError(
                f"litert-compiled runs inputs of shapes {self._shapes} only. Got: "
                f"{[tuple(a.shape) for a in arrays]}. Load another model for other shapes."
            )
        try:
            for write, arr in zip(self._write, arrays, strict=False):
                write(arr)
            self._run(0, self._in_caps, self._out_caps)
            return [
                read(size, dtype).reshape(shape)
                for read, size, shape, dtype in zip(
                    self._read, self._sizes, self._out_shapes, self._out_dtypes, strict=False
                )
            ]
        except (RuntimeError, ValueError) as exc:
            raise BackendError(
                f"litert-compiled failed to run the model: {_first_line(exc)}"
            ) from exc

    def run1(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shapes[0]:
            return self.run((x,))[0]  # raises the shape error
        try:
            self._write[0](x)
            self._run(0, self._in_caps, self._out_caps)
            out: np.ndarray = self._read[0](self._sizes[0], self._out_dtypes[0])
            return out.reshape(self._out_shapes[0])
        except (RuntimeError, ValueError) as exc:
            raise BackendError(
                f"litert-compiled failed to run the model: {_first_line(exc)}"
            ) from exc

    def close(self) -> None:
        self._model = None
        self._run = _closed


def _refuse_unsized_outputs(path: str, outs: list[dict[str, Any]], infos: dict[str, Any]) -> None:
    """Refuse a model with an output whose size is known only after a run (a free dimension
    past the batch axis, e.g. a transposed convolution's): CompiledModel sizes its output
    buffers before running and the run writes past them (measured: SIGABRT/SIGSEGV).

    Raises:
        BackendError: naming the output and its shape signature.
    """
    for detail in outs:
        info = infos.get(str(detail["name"]))
        if info is not None and any(d is None for d in info.shape[1:]):
            sig = tuple(-1 if d is None else d for d in info.shape)
            raise BackendError(
                f"litert-compiled cannot run {path}: output {detail['name']!r} has shape "
                f"signature {sig}, a size known only after running, and CompiledModel "
                f"(ai-edge-litert 2.3) allocates {tuple(detail['shape'])} before the run, "
                "which would overrun it. Expected outputs whose dimensions past the batch are "
                "fixed; use backend='litert' for this model."
            )


def _compile_error(accelerator: str, path: str, exc: BaseException) -> Exception:
    text = " ".join(ln.strip(" └") for ln in str(exc).splitlines() if ln.strip())
    if accelerator != "cpu":
        return BackendError(
            f"LiteRT accelerator {accelerator!r} cannot run {path} here ({text}). It needs "
            f"{_WHY[accelerator]}, and it must take every op of the model (no CPU fallback "
            "is made). Expected such a device; got none that works. Use device='cpu', or "
            "run where the accelerator is present."
        )
    return ModelLoadError(
        f"LiteRT CompiledModel could not load {path}: {text}. Expected a valid .tflite "
        "model with builtin ops; re-export the model or use backend='litert'."
    )


def _closed(*_: Any) -> Any:
    raise BackendError("This engine is closed. Load the model again with edgeship.runtime.load().")


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip(" └") for ln in str(exc).splitlines() if ln.strip(" └")]
    return " ".join(lines[:2]) if lines else type(exc).__name__


def preload(name: str) -> None:
    """Import ai_edge_litert's CompiledModel (no model is opened)."""
    require("ai_edge_litert.compiled_model", BACKENDS[name].extra, "run CompiledModel")


def open_session(name: str, path: str, data: bytes | None, options: SessionOptions) -> Session:
    """Open a .tflite model with LiteRT's CompiledModel on ``options.device`` (default cpu)."""
    refuse_delegates(name, options, "'cpu'|'gpu'|'npu'")
    return CompiledModelSession(path, data, options)
