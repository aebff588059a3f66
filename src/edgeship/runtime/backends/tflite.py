"""TFLite backends: ``ai_edge_litert``, ``tflite_runtime`` or ``tensorflow.lite``.

All three expose the same ``Interpreter`` class. Delegates: ``"edgetpu"`` (libedgetpu),
``"gpu"`` (the TFLite GPU delegate library) or a path to any external delegate library,
with options. XNNPACK (the default CPU path) uses ``threads`` threads.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import BackendError, ConfigError, ModelLoadError
from edgeship.runtime.backends import BACKENDS, Session, SessionOptions
from edgeship.runtime.specs import TensorSpec

_NATIVE = ("SetTensor", "Invoke", "GetTensor", "ResizeInputTensor", "AllocateTensors")
#: Library file of each named delegate, per operating system.
DELEGATE_LIBRARIES: dict[str, dict[str, str]] = {
    "edgetpu": {
        "Linux": "libedgetpu.so.1",
        "Darwin": "libedgetpu.1.dylib",
        "Windows": "edgetpu.dll",
    },
    "gpu": {
        "Linux": "libtensorflowlite_gpu_delegate.so",
        "Darwin": "libtensorflowlite_gpu_delegate.dylib",
        "Windows": "tensorflowlite_gpu_delegate.dll",
    },
}
_DELEGATE_HINTS = {
    "edgetpu": "Install the Edge TPU runtime (https://coral.ai/software/#edgetpu-runtime) and "
    "compile the model with edgetpu_compiler.",
    "gpu": "Build or install the TFLite GPU delegate library and pass its path as delegate=PATH.",
}


def _interpreter_module(name: str) -> tuple[Any, Any, str]:
    """Return ``(Interpreter, load_delegate, version)`` of backend ``name``."""
    info = BACKENDS[name]
    if name == "tf-lite":
        tf: ModuleType = require("tensorflow", info.extra, "run .tflite files with tf.lite")
        return tf.lite.Interpreter, tf.lite.experimental.load_delegate, str(tf.__version__)
    mod = require(f"{info.import_name}.interpreter", info.extra, f"run .tflite files with {name}")
    version = getattr(sys.modules.get(info.import_name), "__version__", None)
    if not version:
        from edgeship.runtime.backends import _version

        version = _version(info) or "unknown"
    return mod.Interpreter, mod.load_delegate, str(version)


def delegate_library(delegate: str) -> str:
    """Return the library file to load for ``delegate`` (a known name or a path)."""
    if delegate in DELEGATE_LIBRARIES:
        system = platform.system()
        lib = DELEGATE_LIBRARIES[delegate].get(system)
        if lib is None:
            raise ConfigError(f"Delegate {delegate!r} has no library for {system}.")
        return lib
    if os.sep in delegate or "/" in delegate or delegate.endswith((".so", ".dylib", ".dll")):
        if not os.path.isfile(delegate):
            raise BackendError(
                f"Delegate library {delegate!r} does not exist. Expected a path to an external "
                "TFLite delegate library (.so/.dylib/.dll)."
            )
        return delegate
    raise ConfigError(
        f"Unknown delegate {delegate!r}. Expected 'edgetpu', 'gpu' or a path to a delegate "
        "library file."
    )


def _load_delegate(load_delegate: Any, delegate: str, options: dict[str, Any]) -> Any:
    lib = delegate_library(delegate)
    opts = {str(k): str(v) for k, v in options.items()}
    try:
        ctypes.CDLL(lib)  # a missing library fails here, before the interpreter's loader
        return load_delegate(lib, opts) if opts else load_delegate(lib)
    except (ValueError, RuntimeError, OSError) as exc:
        hint = _DELEGATE_HINTS.get(
            delegate,
            "Check the path and that the library matches this platform and TFLite version.",
        )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"Could not load the {delegate!r} delegate from {lib!r}: {first}. {hint}"
        ) from exc


def _spec(d: dict[str, Any]) -> TensorSpec:
    sig = d.get("shape_signature")
    dims = sig if sig is not None and len(sig) == len(d["shape"]) else d["shape"]
    scale, zp = d.get("quantization", (0.0, 0))
    dtype = np.dtype(d["dtype"]).name
    quant = (float(scale), int(zp)) if scale and np.dtype(d["dtype"]).kind in "iu" else None
    return TensorSpec(
        name=str(d["name"]),
        shape=tuple(None if int(v) < 0 else int(v) for v in dims),
        dtype=dtype,
        quantization=quant,
    )


class TFLiteSession(Session):
    """A TFLite interpreter; input tensors are resized only when the input shape changes."""

    def __init__(self, name: str, path: str, data: bytes | None, options: SessionOptions) -> None:
        interpreter_cls, load_delegate, version = _interpreter_module(name)
        self.backend, self.version = name, version
        if _beside_tensorflow(name):
            # Measured: it fails with vector::reserve, std::bad_alloc or a segfault, depending
            # on the process. Refuse before the interpreter can take the process down.
            raise BackendError(
                f"tflite-runtime {version} cannot load models in a process that has imported "
                "TensorFlow: the two ship clashing native libraries (it fails or crashes). "
                "Use backend='litert' or 'tf-lite' here, or load the model in a process "
                "without TensorFlow."
            )
        delegates = []
        if options.delegate:
            delegates.append(
                _load_delegate(load_delegate, options.delegate, options.delegate_options)
            )
        kwargs: dict[str, Any] = {"num_threads": options.threads} if options.threads else {}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        source = {"model_content": data} if data is not None else {"model_path": path}
        try:
            self._interp = interpreter_cls(**source, **kwargs)
        except SystemError as exc:
            raise BackendError(
                f"{name} {version} failed to create an interpreter ({exc}). tflite-runtime 2.14 "
                f"does not work with numpy {np.__version__}: install 'numpy<2'. {_advice(name)}"
            ) from exc
        except (MemoryError, ValueError, RuntimeError, TypeError, OSError) as exc:
            raise _load_error(name, version, path, exc) from exc
        try:
            self._interp.allocate_tensors()
            in_details = self._interp.get_input_details()
            out_details = self._interp.get_output_details()
        except UnicodeDecodeError as exc:
            raise ModelLoadError(
                f"{name} cannot read the tensor names of {path}: {exc}. The file is corrupt; "
                "re-export the model."
            ) from exc
        except MemoryError as exc:
            raise _load_error(name, version, path, exc) from exc
        except (ValueError, RuntimeError) as exc:
            raise _edgetpu_error(name, version, path, exc) or BackendError(
                f"{name} {version} cannot run {path}: {_prepare_failure(exc)}. {_advice(name)}"
            ) from exc
        self.inputs = tuple(_spec(d) for d in in_details)
        self.outputs = tuple(_spec(d) for d in out_details)
        self._in_idx = [int(d["index"]) for d in in_details]
        self._out_idx = [int(d["index"]) for d in out_details]
        self._shapes = [tuple(int(v) for v in d["shape"]) for d in in_details]
        native = getattr(self._interp, "_interpreter", None)
        if native is not None and all(hasattr(native, m) for m in _NATIVE):
            # The public wrappers add reference checks that guard raw views from tensor(),
            # which this session never hands out; the native calls do the same work.
            self._set, self._invoke, get = native.SetTensor, native.Invoke, native.GetTensor
            self._get = lambda i: get(i, 0)
            self._resize_input = lambda i, shape: native.ResizeInputTensor(
                i, np.array(shape, dtype=np.int32), True
            )
            self._allocate = native.AllocateTensors
        else:  # pragma: no cover - all three interpreters have the native object today
            self._set, self._invoke = self._interp.set_tensor, self._interp.invoke
            self._get = self._interp.get_tensor
            self._resize_input = lambda i, shape: self._interp.resize_tensor_input(
                i, shape, strict=True
            )
            self._allocate = self._interp.allocate_tensors
        self._in0 = self._in_idx[0] if self._in_idx else -1
        self._out0 = self._out_idx[0] if self._out_idx else -1

    def op_placement(self) -> dict[str, int] | None:
        """Ops run by delegates (``delegated``), by the interpreter's own kernels (``cpu``),
        and the number of delegate partitions; None when the interpreter does not list ops."""
        try:
            nodes = self._interp._get_ops_details()
        except (AttributeError, RuntimeError, ValueError, MemoryError):
            return None
        return delegate_placement(nodes)

    def _resize(self, arrays: Sequence[np.ndarray]) -> None:
        try:
            for i, arr in enumerate(arrays):
                if arr.shape != self._shapes[i]:
                    self._resize_input(self._in_idx[i], list(arr.shape))
            self._allocate()
        except (ValueError, RuntimeError, MemoryError) as exc:
            self._shapes = [() for _ in self._shapes]  # unknown state: resize on the next call
            raise BackendError(
                f"{self.backend} could not resize the inputs to "
                f"{[tuple(a.shape) for a in arrays]}: {_first_line(exc)}"
            ) from exc
        self._shapes = [tuple(a.shape) for a in arrays]

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if any(a.shape != s for a, s in zip(arrays, self._shapes, strict=False)):
            self._resize(arrays)
        try:
            for idx, arr in zip(self._in_idx, arrays, strict=False):
                self._set(idx, arr)
            self._invoke()
            return [self._get(i) for i in self._out_idx]
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise BackendError(
                f"{self.backend} failed to run the model: {_first_line(exc)}"
            ) from exc

    def run1(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shapes[0]:
            self._resize((x,))
        try:
            self._set(self._in0, x)
            self._invoke()
            return self._get(self._out0)  # type: ignore[no-any-return]
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise BackendError(
                f"{self.backend} failed to run the model: {_first_line(exc)}"
            ) from exc

    def close(self) -> None:
        self._set = self._invoke = self._get = self._resize_input = self._allocate = _closed
        self._interp = None


#: The custom op the Edge TPU compiler puts in place of the ops it compiled.
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"


def _beside_tensorflow(name: str) -> bool:
    """tflite-runtime (2.14, its last release) cannot read models once TensorFlow's native
    libraries are loaded."""
    return name == "tflite-runtime" and "tensorflow" in sys.modules


def _load_error(name: str, version: str, path: str, exc: BaseException) -> Exception:
    """The typed error for an interpreter that failed to read ``path``."""
    edgetpu = _edgetpu_error(name, version, path, exc)
    if edgetpu is not None:
        return edgetpu
    if "Didn't find op" in str(exc) or "Encountered unresolved custom op" in str(exc):
        return BackendError(
            f"{name} {version} cannot run {path}: {_first_line(exc)} The model uses "
            f"ops this runtime lacks. {_advice(name)}"
        )
    if isinstance(exc, MemoryError):
        return _corrupt(name, path, exc)
    return ModelLoadError(
        f"{name} could not read {path} as a TFLite model: {_first_line(exc)}. Expected a "
        "valid .tflite flatbuffer; re-export the model."
    )


def _edgetpu_error(name: str, version: str, path: str, exc: BaseException) -> BackendError | None:
    """The error for a model the Edge TPU compiler wrote, read without its delegate (another
    TFLite backend cannot help); None for any other failure."""
    if EDGETPU_CUSTOM_OP not in str(exc):
        return None
    return BackendError(
        f"{name} {version} cannot run {path}: {_first_line(exc)} {path} was compiled for "
        f"the Edge TPU: it holds the custom op {EDGETPU_CUSTOM_OP!r}, which only the Edge "
        "TPU delegate runs. Load it with delegate='edgetpu' (--delegate edgetpu) on a "
        "machine with an Edge TPU (Coral USB, PCIe or Dev Board) and its runtime "
        "(libedgetpu); on a CPU, run the .tflite it was compiled from instead."
    )


def _corrupt(name: str, path: str, exc: MemoryError) -> ModelLoadError:
    """A native allocation failure while reading a model: its sizes are nonsense."""
    return ModelLoadError(
        f"{name} ran out of memory reading {path} ({exc or 'MemoryError'}): the file asks for "
        "impossible tensor sizes, so it is corrupt. Re-export the model."
    )


def _closed(*_: Any) -> Any:
    raise BackendError("This engine is closed. Load the model again with edgeship.runtime.load().")


def _advice(name: str) -> str:
    """What to do when backend ``name`` cannot run a model: never the backend in use."""
    others = [n for n, info in BACKENDS.items() if info.reads("tflite") and n != name]
    return (
        f"Try another TFLite backend ({' or '.join(f'backend={n!r}' for n in others)}), or "
        "convert another variant (or with convert's target_runtime) for this runtime."
    )


def _prepare_failure(exc: BaseException) -> str:
    """The first line, plus the line naming the operator that failed to prepare."""
    text = str(exc).strip()
    first = _first_line(exc)
    node = next((ln.strip() for ln in text.splitlines() if "failed to prepare" in ln), "")
    return f"{first} ({node})" if node and node not in first else first


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def delegate_placement(nodes: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Count delegated ops from an interpreter's node list (``_get_ops_details()``).

    A delegate replaces a connected part of the graph with one ``DELEGATE`` node whose inputs
    and outputs are that part's boundary tensors; the original nodes stay in the list. Walking
    back from each delegate node's outputs to its inputs finds the ops it took.
    """
    ops = [n for n in nodes if n.get("op_name") != "DELEGATE"]
    producer = {int(t): n["index"] for n in ops for t in n["outputs"]}
    by_index = {n["index"]: n for n in ops}
    taken: set[int] = set()
    partitions = 0
    for node in nodes:
        if node.get("op_name") != "DELEGATE":
            continue
        partitions += 1
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            index = producer.get(stack.pop())
            if index is None or index in taken:
                continue
            taken.add(index)
            stack.extend(int(t) for t in by_index[index]["inputs"] if int(t) not in boundary)
    return {
        "ops": len(ops),
        "delegated": len(taken),
        "cpu": len(ops) - len(taken),
        "partitions": partitions,
    }


def preload(name: str) -> None:
    """Import backend ``name``'s interpreter module (no model is opened). tflite-runtime is
    left alone beside TensorFlow, where loading it is refused anyway."""
    if not _beside_tensorflow(name):
        _interpreter_module(name)


def open_session(name: str, path: str, data: bytes | None, options: SessionOptions) -> Session:
    """Open a .tflite model on TFLite backend ``name``."""
    if options.providers:
        raise ConfigError(
            "providers= applies to ONNX Runtime only; for .tflite files use delegate= instead."
        )
    return TFLiteSession(name, path, data, options)
