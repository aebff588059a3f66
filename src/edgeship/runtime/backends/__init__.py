"""Inference backends, each in its own module, imported by name on first use.

A backend module exposes ``open_session(name, path, data, options) -> Session``. Nothing here
imports a backend package: :func:`available_backends` reads installed metadata only.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeship._lazy import is_available
from edgeship._records import Value
from edgeship.errors import BackendError, ConfigError, MissingDependencyError
from edgeship.runtime.specs import TensorSpec
from edgeship.runtime_flags import AUTO_ORDER as AUTO_ORDER  # re-exported


class BackendInfo(Value):
    """Where a backend lives: artifact format, implementing module, import name, packages;
    ``also`` lists the further formats it reads (``formats`` holds them all)."""

    format: str
    module: str
    import_name: str
    distributions: tuple[str, ...]
    extra: str
    formats: tuple[str, ...]

    def __init__(
        self,
        format: str,
        module: str,
        import_name: str,
        distributions: tuple[str, ...],
        extra: str,
        also: tuple[str, ...] = (),
        formats: tuple[str, ...] | None = None,
    ) -> None:
        self._set(format=format, module=module, import_name=import_name)
        self._set(distributions=distributions, extra=extra)
        self._set(formats=formats if formats is not None else (format, *also))

    def reads(self, fmt: str) -> bool:
        """True when this backend runs ``fmt`` (``"tflite"``, ``"onnx"``) artifacts."""
        return fmt in self.formats


BACKENDS: dict[str, BackendInfo] = {
    "litert": BackendInfo("tflite", "tflite", "ai_edge_litert", ("ai-edge-litert",), "litert"),
    "tflite-runtime": BackendInfo(
        "tflite", "tflite", "tflite_runtime", ("tflite-runtime",), "tflite"
    ),
    "tf-lite": BackendInfo(
        "tflite", "tflite", "tensorflow", ("tensorflow", "tensorflow-cpu"), "convert"
    ),
    "onnxruntime": BackendInfo(
        "onnx",
        "onnxruntime",
        "onnxruntime",
        ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
        "onnx",
    ),
    "tflm": BackendInfo("tflite", "tflm", "tflite_micro", ("tflite-micro",), "tflm"),
    "openvino": BackendInfo(
        "onnx", "openvino", "openvino", ("openvino",), "openvino", also=("tflite",)
    ),
    "litert-compiled": BackendInfo(
        "tflite", "litert_compiled", "ai_edge_litert", ("ai-edge-litert",), "litert"
    ),
}


#: Backends that take a ``device`` session option (an accelerator or device name).
DEVICE_BACKENDS: tuple[str, ...] = ("openvino", "litert-compiled")


class SessionOptions(Value):
    """Backend settings collected by :func:`edgeship.runtime.load`."""

    threads: int | None
    delegate: str | None
    delegate_options: dict[str, Any]
    providers: tuple[Any, ...] | None
    device: str | None

    def __init__(
        self,
        threads: int | None = None,
        delegate: str | None = None,
        delegate_options: dict[str, Any] | None = None,
        providers: tuple[Any, ...] | None = None,
        device: str | None = None,
    ) -> None:
        self._set(threads=threads, delegate=delegate, providers=providers)
        self._set(delegate_options={} if delegate_options is None else delegate_options)
        self._set(device=device)


class Session:
    """One loaded model on one backend. Not thread-safe: the Engine serialises calls."""

    backend: str
    version: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    #: True when ``run`` may be called from several threads at once.
    thread_safe: bool = False
    #: True when a free (None) dimension of an input may take any size without looping.
    resizable: bool = True
    #: The execution providers that started, in order (ONNX Runtime); None elsewhere.
    providers: tuple[str, ...] | None = None
    #: The device or accelerator the model runs on (openvino, litert-compiled); None elsewhere.
    device: str | None = None

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the model on arrays already of the input dtypes and allowed shapes."""
        raise NotImplementedError

    def run1(self, x: np.ndarray) -> np.ndarray:
        """Single input, single output: the hot path."""
        return self.run((x,))[0]

    def op_placement(self) -> dict[str, int] | None:
        """How many of the model's ops each executor runs (delegate, provider, CPU), or None
        where the backend cannot tell."""
        return None

    def close(self) -> None:
        """Release the native resources."""


def _version(info: BackendInfo) -> str | None:
    from edgeship.versions import package_version  # importlib.metadata: slow, so only here

    for dist in info.distributions:
        if (v := package_version(dist)) is not None:
            return v
    return None


def backend_version(name: str) -> str:
    """The installed version of backend ``name``: its package's ``__version__`` (importing the
    package, as loading a model on it will), else the installed metadata."""
    info = BACKENDS[name]
    if name != "tf-lite":  # tensorflow itself is imported only when a model is loaded on it
        try:
            version = getattr(importlib.import_module(info.import_name), "__version__", None)
        except ImportError:
            version = None
        if version:
            return str(version)
    return _version(info) or "unknown"


def preload(name: str) -> None:
    """Import backend ``name`` and its interpreter module without opening any model (so it
    can overlap with a validating child process)."""
    info = BACKENDS[name]
    module = importlib.import_module(f"edgeship.runtime.backends.{info.module}")
    module.preload(name)


def available_backends() -> dict[str, str]:
    """Return ``{backend name: version}`` of the installed backends, importing none of them."""
    found: dict[str, str] = {}
    for name, info in BACKENDS.items():
        if is_available(info.import_name):
            found[name] = _version(info) or "unknown"
    return found


def resolve(backend: str, fmt: str) -> list[str]:
    """Return the backend names to try, in order, for ``backend`` on a ``fmt`` artifact.

    Raises:
        ConfigError: unknown backend name, or one that cannot run this format.
        MissingDependencyError: no installed backend can run this format.
    """
    if backend == "auto":
        names = [n for n in AUTO_ORDER[fmt] if is_available(BACKENDS[n].import_name)]
        if "tensorflow" in sys.modules and len(names) > 1:
            # tflite-runtime cannot run beside TensorFlow (see backends.tflite).
            names = [n for n in names if n != "tflite-runtime"] or names
        if not names:
            extras = " or ".join(f"'edgeship[{BACKENDS[n].extra}]'" for n in AUTO_ORDER[fmt][:2])
            raise MissingDependencyError(
                f"No backend that runs .{fmt} files is installed. Expected one of "
                f"{', '.join(AUTO_ORDER[fmt])}. Install one with: pip install {extras}"
            )
        return names
    info = BACKENDS.get(backend)
    if info is None:
        raise ConfigError(
            f"Unknown backend {backend!r}. Expected one of: auto, {', '.join(BACKENDS)}."
        )
    if not info.reads(fmt):
        able = ", ".join(AUTO_ORDER[fmt])
        raise ConfigError(
            f"Backend {backend!r} runs .{' and .'.join(info.formats)} files, but this "
            f"artifact is .{fmt}. "
            f"Use backend='auto' or one of: {able}."
        )
    return [backend]


def check_device_option(name: str, device: Any) -> None:
    """Refuse a ``device`` given to a backend that takes none, one that is not a string, or a
    name the backend does not know (whether the device is present is checked at load).

    Raises:
        ConfigError: naming the backends that take a device, or the backend's device names.
    """
    if device is None:
        return
    if not isinstance(device, str) or not device:
        raise ConfigError(f"device must be a name such as 'CPU' or 'gpu'. Got: {device!r}")
    if name not in DEVICE_BACKENDS:
        raise ConfigError(
            f"device={device!r} applies to the {' and '.join(DEVICE_BACKENDS)} backends, not "
            f"{name!r}. Pass backend='openvino' (device CPU|GPU|NPU|AUTO) or "
            "backend='litert-compiled' (device cpu|gpu|npu), or use delegate=/providers= here."
        )
    module = importlib.import_module(f"edgeship.runtime.backends.{BACKENDS[name].module}")
    module.device_name(device)  # imports no backend package


def refuse_delegates(name: str, options: SessionOptions, devices: str) -> None:
    """Refuse the TFLite ``delegate=`` and ONNX Runtime ``providers=`` options on a backend
    that picks its hardware with ``device=`` instead.

    Args:
        name: the backend's name.
        options: the session options.
        devices: the device names it takes, e.g. ``"'CPU'|'GPU'"``.

    Raises:
        ConfigError: naming the ``device=`` values to use instead.
    """
    if options.delegate or options.providers:
        raise ConfigError(
            f"delegate= and providers= apply to the TFLite and ONNX Runtime backends, not "
            f"{name!r}; choose its hardware with device={devices}."
        )


def open_session(name: str, path: str, data: bytes | None, options: SessionOptions) -> Session:
    """Import backend ``name`` and open ``path`` (or the bytes ``data``) on it.

    Raises:
        MissingDependencyError: the backend's package is not installed.
        BackendError / ModelLoadError: the backend refused the settings or the file.
    """
    info = BACKENDS[name]
    check_device_option(name, options.device)
    module = importlib.import_module(f"edgeship.runtime.backends.{info.module}")
    session: Session = module.open_session(name, path, data, options)
    return session


__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "BackendError",
    "Session",
    "SessionOptions",
    "available_backends",
    "backend_version",
    "open_session",
    "preload",
    "resolve",
]
