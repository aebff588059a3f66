"""ONNX Runtime backend with execution providers and their options.

``providers`` takes names (``"CUDAExecutionProvider"`` or the short ``"cuda"``), or
``(name, options)`` pairs, in order of preference; the default is the CPU provider. A
provider this onnxruntime build does not have (or that fails to start) is skipped with a
:class:`~edgeship.errors.ProviderFallbackWarning` naming the one that runs instead; only
when none of them is available is it an error, listing those the build has.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import BackendError, ConfigError, ModelLoadError, ProviderFallbackWarning
from edgeship.runtime.backends import BACKENDS, Session, SessionOptions, _version
from edgeship.runtime.specs import TensorSpec

_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(uint32)": "uint32",
    "tensor(int64)": "int64",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").removesuffix("executionprovider")


def _as_list(providers: Sequence[Any]) -> Sequence[Any]:
    """One name or one ``(name, options)`` pair as a list of one entry."""
    if isinstance(providers, str) or (
        isinstance(providers, tuple)
        and len(providers) == 2
        and isinstance(providers[0], str)
        and isinstance(providers[1], dict)
    ):
        return [providers]
    return providers


def cpu_only(providers: Sequence[Any] | None) -> bool:
    """True when ``providers`` (as :func:`normalize_providers` takes them) name only the CPU
    provider, or none (the default); a malformed entry is not CPU."""
    if not providers:
        return True
    names = [
        e if isinstance(e, str) else (e[0] if isinstance(e, (tuple, list)) and e else None)
        for e in _as_list(providers)
    ]
    return all(isinstance(n, str) and _key(n) == "cpu" for n in names)


def normalize_providers(
    providers: Sequence[Any] | None, available: Sequence[str], known: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Return ``[(full provider name, options)]`` for the entries of ``providers`` that
    this onnxruntime build has, in their order; each one skipped is warned about.

    Raises:
        ConfigError: a malformed entry or an unknown provider name.
        BackendError: none of the providers asked for is available in this build.
    """
    if not providers:
        return [("CPUExecutionProvider", {})]
    providers = _as_list(providers)
    by_key = {_key(p): p for p in [*known, *available]}
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in providers:
        if isinstance(entry, str):
            name, opts = entry, {}
        elif (
            isinstance(entry, (tuple, list))
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], dict)
        ):
            name, opts = entry[0], dict(entry[1])
        else:
            raise ConfigError(
                f"Each provider must be a name or a (name, options dict) pair. Got: {entry!r}"
            )
        full = by_key.get(_key(name))
        if full is None:
            raise ConfigError(
                f"Unknown execution provider {name!r}. Available here: {', '.join(available)}."
            )
        out.append((full, {str(k): str(v) for k, v in opts.items()}))
    usable = [(name, opts) for name, opts in out if name in available]
    if not usable:
        raise BackendError(
            f"None of the execution providers asked for ({', '.join(n for n, _ in out)}) is "
            f"available in this onnxruntime build. Available: {', '.join(available)}. Add one "
            "of those to the list (e.g. --provider cuda,cpu / providers=['cuda', 'cpu']), or "
            "install the onnxruntime package that ships the provider (e.g. onnxruntime-gpu, "
            "onnxruntime-openvino)."
        )
    skipped = [name for name, _ in out if name not in available]
    if skipped:
        _warn_fallback(skipped, "not available in this onnxruntime build", usable[0][0])
    return usable


def _warn_fallback(skipped: Sequence[str], why: str, running: str) -> None:
    """Warn that ``skipped`` providers were passed over for ``running``."""
    several = len(skipped) > 1
    warnings.warn(
        f"Execution provider{'s' if several else ''} {', '.join(skipped)} "
        f"{'are' if several else 'is'} {why}; running on {running}, the next one in the list.",
        ProviderFallbackWarning,
        stacklevel=5,
    )


def _spec(arg: Any) -> TensorSpec:
    dims = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
    return TensorSpec(name=str(arg.name), shape=dims, dtype=_ORT_DTYPES.get(arg.type, arg.type))


class OrtSession(Session):
    """An ``onnxruntime.InferenceSession``; its ``run`` is thread-safe."""

    thread_safe = True

    def __init__(self, path: str, data: bytes | None, options: SessionOptions) -> None:
        ort = require("onnxruntime", "onnx", "run .onnx files")
        self.backend = "onnxruntime"
        self.version = str(getattr(ort, "__version__", "") or _version(BACKENDS["onnxruntime"]))
        available = list(ort.get_available_providers())
        known = list(ort.get_all_providers()) if hasattr(ort, "get_all_providers") else []
        providers = normalize_providers(options.providers, available, known)
        if options.threads:
            for name, opts in providers:
                if name == "XnnpackExecutionProvider":
                    opts.setdefault("intra_op_num_threads", str(options.threads))
        # The bytes that were checked, when given (onnxruntime keeps them anyway), else the path.
        self._model: str | bytes = data if data is not None else path
        self._threads, self._providers = options.threads, providers
        try:
            self._sess = _new_session(ort, self._model, providers, options.threads)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelLoadError(
                f"onnxruntime could not load {path}: {_first_line(exc)}. Expected a valid ONNX "
                "model (with its external weight files beside it, if any); re-export the model."
            ) from exc
        active = self._sess.get_providers()
        missing = [p for p, _ in providers if p not in active]
        started = [p for p, _ in providers if p in active]
        if not started:
            raise BackendError(
                f"Execution provider(s) {', '.join(missing)} failed to start (active: "
                f"{', '.join(active)}). Check the provider's libraries and options."
            )
        if missing:
            _warn_fallback(missing, "failed to start", started[0])
        self.providers = tuple(active)
        try:
            self.inputs = tuple(_spec(a) for a in self._sess.get_inputs())
            self.outputs = tuple(_spec(a) for a in self._sess.get_outputs())
        except Exception as exc:  # e.g. undecodable tensor names in a corrupt file
            raise ModelLoadError(
                f"onnxruntime loaded {path} but cannot read its inputs and outputs: "
                f"{_first_line(exc)}. The file is corrupt; re-export the model."
            ) from exc
        self._in_names = [s.name for s in self.inputs]
        self._out_names = [s.name for s in self.outputs]
        self._in0 = self._in_names[0] if self._in_names else ""
        self._out0 = self._out_names[:1]
        self._run = self._sess.run

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            return list(self._run(self._out_names, dict(zip(self._in_names, arrays, strict=False))))
        except Exception as exc:
            raise BackendError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc

    def run1(self, x: np.ndarray) -> np.ndarray:
        try:
            return self._run(self._out0, {self._in0: x})[0]  # type: ignore[no-any-return]
        except Exception as exc:
            raise BackendError(f"onnxruntime failed to run the model: {_first_line(exc)}") from exc

    def op_placement(self) -> dict[str, int] | None:
        """Nodes per execution provider, read from one profiled run of a second session with
        the same providers (the timed session stays unprofiled); None if that fails."""
        return provider_placement(self._model, self._providers, self._threads, self.inputs)

    def close(self) -> None:
        self._sess = None


def _new_session(
    ort: Any,
    model: str | bytes,
    providers: list[tuple[str, dict[str, str]]],
    threads: int | None,
    profile_prefix: str | None = None,
) -> Any:
    """An ``InferenceSession`` of ``model`` (a path or the model's bytes) with quiet logs,
    ``threads`` intra-op threads and, when ``profile_prefix`` is set, profiling into files
    starting with it."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = int(threads)
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(
        model,
        sess_options=so,
        providers=[p for p, _ in providers],
        provider_options=[o for _, o in providers],
    )


def provider_placement(
    model: str | bytes,
    providers: list[tuple[str, dict[str, str]]],
    threads: int | None,
    inputs: Sequence[TensorSpec],
) -> dict[str, int] | None:
    """Run ``model`` (a path or the model's bytes) once with profiling on and count the nodes
    each provider executed."""
    import json
    import tempfile

    ort = require("onnxruntime", "onnx", "run .onnx files")
    with tempfile.TemporaryDirectory(prefix="edgeship-ort-profile-") as tmp:
        try:
            sess = _new_session(ort, model, providers, threads, str(Path(tmp) / "profile"))
            feed = {
                s.name: np.zeros([d if d is not None else 1 for d in s.shape], s.np_dtype)
                for s in inputs
            }
            sess.run(None, feed)
            events = json.loads(Path(sess.end_profiling()).read_text(encoding="utf-8"))
        except Exception:  # profiling is a report, never a reason to fail the caller
            return None
    placement: dict[str, set[str]] = {}
    for event in events:
        args = event.get("args") or {}
        if event.get("cat") == "Node" and "provider" in args:
            placement.setdefault(str(args["provider"]), set()).add(str(event.get("name")))
    return {provider: len(names) for provider, names in sorted(placement.items())} or None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def preload(name: str) -> None:
    """Import onnxruntime (no model is opened)."""
    require("onnxruntime", "onnx", "run .onnx files")


def open_session(name: str, path: str, data: bytes | None, options: SessionOptions) -> Session:
    """Open a .onnx model on ONNX Runtime: the bytes ``data`` when given (``path`` then only
    names them), else the file ``path`` (a model with external weights needs its folder)."""
    if options.delegate:
        raise ConfigError(
            "delegate= applies to TFLite only; for .onnx files use providers= instead."
        )
    return OrtSession(path, data, options)
