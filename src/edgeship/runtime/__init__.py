"""Run .tflite and .onnx models with numpy and one backend — never TensorFlow.

Example::

    from edgeship.runtime import load

    with load("artifacts/tflite-int8.tflite") as engine:
        print(engine.inputs)            # (TensorSpec(name=..., shape=(None, 8, 8, 1), ...),)
        probs = engine.predict(x)       # float in, float out; int8 handled inside

Backends: ``litert`` (ai-edge-litert), ``tflite-runtime``, ``tf-lite`` (tensorflow.lite, only
when asked for or nothing else is installed), ``onnxruntime``, ``openvino`` (.onnx and .tflite,
``device="CPU"|"GPU"|"NPU"|"AUTO"``) and ``litert-compiled`` (LiteRT's CompiledModel,
``device="cpu"|"gpu"|"npu"``). Each is imported on first use.

Thread safety: an Engine may be shared by many threads. On a TFLite backend it holds one
interpreter behind a lock (calls run one at a time; load one Engine per worker thread for
parallel calls); on onnxruntime it takes no lock, since ``InferenceSession.run`` is
thread-safe, and calls run in parallel.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeship.errors import (
    ConfigError,
    MissingDependencyError,
    ModelLoadError,
    ProviderFallbackWarning,
)
from edgeship.runtime.backends import (
    SessionOptions,
    available_backends,
    check_device_option,
    open_session,
    resolve,
)
from edgeship.runtime.engine import Engine
from edgeship.runtime.ranges import InputRangeWarning
from edgeship.runtime.specs import TensorSpec
from edgeship.runtime.verify import (
    has_external_data,
    manifest_trust,
    sniff_format,
    validate_in_subprocess,
)

__all__ = [
    "Engine",
    "InputRangeWarning",
    "ProviderFallbackWarning",
    "TensorSpec",
    "available_backends",
    "load",
]


def max_threads() -> int:
    """The most interpreter threads ``load`` accepts: 4 per CPU, and at least 64."""
    return max(64, 4 * (os.cpu_count() or 1))


def _check_options(
    backend: str,
    threads: int | None,
    delegate_options: Mapping[str, Any] | None,
    verify: bool | None,
) -> None:
    if not isinstance(backend, str):
        raise ConfigError(f"backend must be a string such as 'auto'. Got: {backend!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1
    ):
        raise ConfigError(
            f"threads must be a positive integer or None. Got: {threads!r} "
            f"({type(threads).__name__})"
        )
    if threads is not None and threads > max_threads():
        raise ConfigError(
            f"threads={threads} is far more than this machine's {os.cpu_count()} CPU(s); "
            f"interpreters crash or hang creating that many. Pass at most {max_threads()}."
        )
    if delegate_options is not None and not isinstance(delegate_options, Mapping):
        raise ConfigError(
            f"delegate_options must be a dict. Got: {type(delegate_options).__name__}"
        )
    if verify not in (None, True, False):
        raise ConfigError(f"verify must be True, False or None. Got: {verify!r}")


def _verify(
    p: Path, fmt: str, data: bytes, backend: str, read_cache: bool, write_cache: bool
) -> str:
    """Check an untrusted file, unless a cached verdict (same bytes, backend version, Python
    and edgeship checks) says it already passed: its structure here, then a load and a
    prediction in a child process; a pass is recorded. Both checks see exactly ``data``, the
    bytes hashed for the verdict and loaded afterwards (an ONNX model with external data is
    read from ``p`` by the child, which needs its folder, and is never cached). Returns the
    backend the file was validated on."""
    from edgeship.runtime import verdicts
    from edgeship.runtime.backends import backend_version, preload

    key = None
    if read_cache or write_cache:
        key = verdicts.key_for(data, fmt, backend, backend_version(backend))
    if read_cache and key is not None and verdicts.is_verified(key):
        return backend  # these bytes passed both checks before
    from edgeship.runtime.structure import check_structure

    check_structure(p, fmt, data)
    whole = not (fmt == "onnx" and has_external_data(data))
    used = validate_in_subprocess(
        p, backend, while_waiting=lambda: preload(backend), data=data if whole else None
    )
    if write_cache and key is not None and used == backend:
        verdicts.record_verified(key)
    return used


def _cacheable(options: SessionOptions) -> bool:
    """Verdicts are about the child's default CPU load: a delegate or a non-CPU execution
    provider runs other native code, which no verdict covers."""
    if options.delegate or options.device:
        return False
    if not options.providers:
        return True
    from edgeship.runtime.backends.onnxruntime import cpu_only

    return cpu_only(options.providers)


def _open_engine(
    p: Path, fmt: str, data: bytes | None, names: Sequence[str], options: SessionOptions
) -> Engine:
    """Open ``data`` (or, when None, the file ``p``) on the first of ``names`` installed."""
    last: Exception | None = None
    for name in names:
        try:
            session = open_session(name, str(p), data, options)
        except MissingDependencyError as exc:
            last = exc
            continue
        from edgeship.runtime.names import model_names

        model = model_names(p, [s.name for s in session.inputs], [s.name for s in session.outputs])
        return Engine(session, p, fmt, model)
    raise last if last is not None else MissingDependencyError(f"No backend for {p}.")


def load(
    path: str | os.PathLike[str],
    backend: str = "auto",
    threads: int | None = None,
    delegate: str | None = None,
    delegate_options: Mapping[str, Any] | None = None,
    providers: Sequence[Any] | str | None = None,
    verify: bool | None = None,
    device: str | None = None,
) -> Engine:
    """Load a .tflite or .onnx model on one backend.

    Args:
        path: the artifact file.
        backend: ``"auto"`` (litert, then tflite-runtime, then tf-lite for .tflite;
            onnxruntime for .onnx) or one of those names to force it.
        threads: CPU threads (TFLite/XNNPACK ``num_threads``; ONNX Runtime intra-op threads).
        delegate: TFLite delegate: ``"edgetpu"``, ``"gpu"`` or a path to a delegate library.
        delegate_options: options passed to the delegate.
        providers: ONNX Runtime execution providers in order of preference: names
            (``"CUDAExecutionProvider"`` or ``"cuda"``) or ``(name, options)`` pairs.
            Default: CPU.
        device: the device or accelerator of the ``openvino`` backend (``"CPU"``, ``"GPU"``,
            ``"NPU"``, ``"AUTO"``; default CPU) or the ``litert-compiled`` backend
            (``"cpu"``, ``"gpu"``, ``"npu"``; default cpu). One this machine lacks is a
            BackendError naming those it has.
        verify: validate the file in a child process before loading it, so a file that
            crashes the native interpreter raises ModelLoadError instead of killing this
            process. None (default): only when no ``manifest.json`` beside the file vouches
            for its sha256 and no cached verdict (``$XDG_CACHE_HOME/edgeship``, see
            :mod:`edgeship.runtime.verdicts`) says these bytes already passed on this
            backend version. True: always (the verdict is still recorded). False: never.
            Files that are checked have their container structure checked here first.
            The bytes checked are the bytes loaded: the file is read once. With a delegate
            or a non-CPU provider no verdict is read or recorded (the child checks the
            default CPU load, not theirs).

    Returns:
        An :class:`Engine`.

    Raises:
        ModelLoadError: missing, empty, corrupt or wrongly named file.
        IntegrityError: the file's sha256 differs from its manifest's.
        ConfigError: unknown backend, delegate or option.
        BackendError: the backend, delegate or provider is unavailable or refused the model.
        MissingDependencyError: the backend is not installed (names the pip extra).
    """
    _check_options(backend, threads, delegate_options, verify)
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"path must be a file path (str or Path). Got: {path!r}")
    threads = None if threads is None else int(threads)
    p = Path(path)
    if not p.is_file():
        what = "a directory" if p.is_dir() else "missing"
        raise ModelLoadError(f"{p} is {what}. Expected a .tflite or .onnx model file.")
    with open(p, "rb") as fh:
        head = fh.read(16)
        fmt = sniff_format(p, head)
        # Read once: what the manifest or the verdict vouches for is what gets loaded.
        data = head + fh.read() if fmt == "tflite" or verify is not False else None
    names = resolve(backend, fmt)
    check_device_option(names[0], device)
    options = SessionOptions(
        threads=threads,
        delegate=delegate,
        delegate_options=dict(delegate_options or {}),
        providers=(providers,)
        if isinstance(providers, str)
        else (tuple(providers) if providers else None),
        device=device,
    )
    trusted = manifest_trust(p, data) if verify is not False else False
    if data is not None and (verify is True or (verify is None and not trusted)):
        cache = _cacheable(options)
        used = _verify(p, fmt, data, names[0], cache and verify is None, cache)
        names = [used] if used in names else names
    if fmt == "onnx" and data is not None and has_external_data(data):
        data = None  # onnxruntime finds the weight files beside the model by its path
    return _open_engine(p, fmt, data, names, options)
