"""TFLite Micro backend (``tflite-micro``): the interpreter and kernels a microcontroller runs,
built for the host.

Latency measured here is host-simulated: the same reference kernels on an x86 CPU, never a
board's latency. The tensor arena is a session option (``delegate_options={"arena_size": N}``);
without it the session searches the smallest arena that allocates (:func:`smallest_arena`) and
uses that. TFLite Micro runs one inference at a time on one thread, on fixed shapes (larger
batches are fed in chunks by the Engine), and has no delegates.

The kernel set is read from the installed interpreter library itself: every
``tflite::Register_<OP>()`` it exports that names a builtin operator (:func:`kernel_set`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import BackendError, ConfigError, ModelLoadError
from edgeship.runtime.backends import BACKENDS, Session, SessionOptions, _version
from edgeship.runtime.specs import TensorSpec

#: The arena search works in steps of this many bytes (TFLite Micro aligns buffers to 16).
ARENA_STEP = 16
#: The largest arena the search tries before it gives up.
ARENA_LIMIT = 256 << 20
_REGISTER = re.compile(rb"Register_([A-Z][A-Z0-9_]*?)E?v")
SESSION_OPTIONS = ("arena_size",)
#: Smallest arenas found in this process, by (model sha256, step, limit).
_ARENAS: dict[tuple[str, int, int], int] = {}


def _runtime_module() -> Any:
    return require(
        "tflite_micro.python.tflite_micro.runtime",
        BACKENDS["tflm"].extra,
        "run .tflite files in the TFLite Micro interpreter",
    )


def _schema() -> Any:
    return require(
        "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
        BACKENDS["tflm"].extra,
        "read .tflite files for TFLite Micro",
    )


@functools.cache
def kernel_set() -> frozenset[str]:
    """Builtin operator names the installed TFLite Micro interpreter has a kernel for.

    Read from the symbols of its native library (``tflite::Register_CONV_2D()`` ...), kept
    where the name is a TFLite builtin operator (signal-processing and vendor kernels such as
    ``FRAMER`` or ``ETHOSU`` are custom ops, not builtins).
    """
    runtime = _runtime_module()
    library = Path(runtime.__file__).with_name("_runtime.so")
    candidates = sorted(Path(runtime.__file__).parent.glob("_runtime*"))
    data = (library if library.is_file() else candidates[0]).read_bytes()
    found = {m.decode() for m in _REGISTER.findall(data)} & set(builtin_names().values())
    if not found:
        raise BackendError(
            f"Found no TFLite Micro kernels in {library.name} (no exported "
            "tflite::Register_<OP>() symbols): this tflite-micro build is not one edgeship "
            "can read. Expected the tflite-micro wheel from PyPI; reinstall it."
        )
    return frozenset(found)


@functools.cache
def builtin_names() -> dict[int, str]:
    """TFLite builtin operator code -> name, from the schema TFLite Micro ships."""
    ops = _schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


class ModelOps:
    """What TFLite Micro needs to know of a .tflite file before running it.

    Attributes:
        ops: builtin operator names used, in first-use order (custom ops as ``custom:NAME``).
        hybrid: operators that take float activations with int8 weights (dynamic range).
        inputs / outputs: tensor names of the main subgraph's inputs and outputs.
    """

    def __init__(self, data: bytes) -> None:
        schema = _schema()
        try:
            model = schema.Model.GetRootAsModel(data, 0)
            codes = []
            for i in range(model.OperatorCodesLength()):
                code = model.OperatorCodes(i)
                custom = code.CustomCode()
                builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
                codes.append(
                    f"custom:{custom.decode()}" if custom else builtin_names().get(builtin, "?")
                )
            ops: dict[str, None] = {}
            hybrid: dict[str, None] = {}
            for g in range(model.SubgraphsLength()):
                graph = model.Subgraphs(g)
                for k in range(graph.OperatorsLength()):
                    op = graph.Operators(k)
                    name = codes[op.OpcodeIndex()]
                    ops[name] = None
                    if _is_hybrid(model, graph, op.InputsAsNumpy().tolist(), schema):
                        hybrid[name] = None
            graph = model.Subgraphs(0)
            names = [graph.Tensors(i).Name().decode() for i in range(graph.TensorsLength())]
            self.inputs = [names[i] for i in graph.InputsAsNumpy().tolist()]
            self.outputs = [names[i] for i in graph.OutputsAsNumpy().tolist()]
        except Exception as exc:  # corrupt offsets surface as struct/index/unicode errors
            raise ModelLoadError(
                f"TFLite Micro cannot read this file as a TFLite model ({type(exc).__name__}: "
                f"{exc}). Expected a valid .tflite flatbuffer; re-export the model."
            ) from exc
        self.ops = list(ops)
        self.hybrid = list(hybrid)

    def missing(self) -> list[str]:
        """Operators the installed TFLite Micro has no kernel for."""
        return [op for op in self.ops if op not in kernel_set()]


def _is_hybrid(model: Any, graph: Any, inputs: list[int], schema: Any) -> bool:
    """Float activations beside constant int8 weights: a dynamic-range operator."""
    float_activation = int8_weight = False
    for index in inputs:
        if index < 0:
            continue
        tensor = graph.Tensors(index)
        constant = model.Buffers(tensor.Buffer()).DataLength() > 0 if tensor.Buffer() else False
        if tensor.Type() == schema.TensorType.FLOAT32 and not constant:
            float_activation = True
        if tensor.Type() == schema.TensorType.INT8 and constant:
            int8_weight = True
    return float_activation and int8_weight


def refusal(info: ModelOps) -> str | None:
    """Why TFLite Micro cannot run the model described by ``info``, or None."""
    if info.hybrid:
        return (
            f"it is a dynamic-range (hybrid) model: {', '.join(info.hybrid)} take float "
            "activations with int8 weights, and hybrid models are not supported on TFLite "
            "Micro. Expected a full-integer (int8) or float model: convert tflite-int8 or "
            "tflm-int8"
        )
    missing = info.missing()
    if missing:
        return (
            f"TFLite Micro has no kernel for operator(s) {', '.join(missing)} (its kernels: "
            f"{len(kernel_set())} builtin ops). Replace the layers that produce them, or build "
            "a TFLite variant for LiteRT instead"
        )
    return None


#: The child that tries arenas: TFLite Micro's host build can crash (SIGSEGV) allocating some
#: models in an arena that is too small, so no arena is tried in this process before it fits.
_PROBE = """
import sys
from tflite_micro.python.tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        runtime.Interpreter.from_bytes(data, arena_size=int(line))
        ok = 1
    except RuntimeError:
        ok = 0
    sys.stdout.write(f"{ok}\\n")
    sys.stdout.flush()
"""


class ArenaProbe:
    """Tries tensor arenas for one model in a child process (restarted after a crash, which
    counts as "does not fit"); TFLite Micro's reports go to a log read on failure."""

    def __init__(self, data: bytes) -> None:
        runtime = _runtime_module()
        self._dir = tempfile.TemporaryDirectory(prefix="edgeship-tflm-")
        self._model = Path(self._dir.name) / "model.tflite"
        self._model.write_bytes(data)
        self._log = Path(self._dir.name) / "tflm.log"
        root = str(Path(runtime.__file__).parents[3])  # the folder holding tflite_micro/
        path = os.environ.get("PYTHONPATH")
        self._env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
        self._proc: subprocess.Popen[str] | None = None

    def fits(self, arena: int) -> bool:
        """True when the model allocates in ``arena`` bytes."""
        if self._proc is None or self._proc.poll() is not None:
            with open(self._log, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _PROBE, str(self._model)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    env=self._env,
                )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(f"{int(arena)}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        except (BrokenPipeError, OSError):
            answer = ""
        if not answer:  # it crashed on this arena
            self._proc.wait()
            return False
        return answer.strip() == "1"

    def report(self) -> str:
        """TFLite Micro's last lines of explanation."""
        lines = [ln.strip() for ln in self._log.read_text(errors="replace").splitlines()]
        return " / ".join(dict.fromkeys(ln for ln in lines[-6:] if ln)) or "no report"

    def close(self) -> None:
        """Stop the child and remove the temporary files."""
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait()
            for stream in (self._proc.stdout,):
                if stream:
                    stream.close()
        self._dir.cleanup()

    def __enter__(self) -> ArenaProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def smallest_arena(data: bytes, step: int = ARENA_STEP, limit: int = ARENA_LIMIT) -> int:
    """The smallest tensor arena (a multiple of ``step`` bytes) in which TFLite Micro
    allocates the model ``data``, each size tried in a child process.

    Raises:
        BackendError: the model does not allocate even in ``limit`` bytes (the message
            carries TFLite Micro's own report).
    """
    key = (hashlib.sha256(data).hexdigest(), step, limit)
    if key in _ARENAS:  # the same bytes are loaded several times by one convert
        return _ARENAS[key]
    low, high = 0, max(step, (len(data) // step + 1) * step)
    with ArenaProbe(data) as probe:
        while not probe.fits(high):
            if high >= limit:
                raise BackendError(
                    f"TFLite Micro could not allocate the model in a {limit >> 20} MiB arena: "
                    f"{probe.report()}."
                )
            low, high = high, min(limit, high * 2)
        while high - low > step:  # low fails (0 always does), high allocates
            mid = (low + high) // 2 // step * step
            if probe.fits(mid):
                high = mid
            else:
                low = mid
    _ARENAS[key] = high
    return high


def _spec(name: str, detail: dict[str, Any]) -> TensorSpec:
    dtype = np.dtype(detail["dtype"])
    params = detail.get("quantization_parameters") or {}
    scales, zeros = params.get("scales", ()), params.get("zero_points", ())
    quant = None
    if dtype.kind in "iu" and len(scales) == 1 and float(scales[0]):
        quant = (float(scales[0]), int(zeros[0]))
    return TensorSpec(
        name=name,
        shape=tuple(int(v) for v in detail["shape"]),
        dtype=dtype.name,
        quantization=quant,
    )


class TFLMSession(Session):
    """One TFLite Micro interpreter on a fixed tensor arena.

    Attributes:
        arena_bytes: the tensor arena in use.
        host_simulated: always True: timings are the host's, not a microcontroller's.
    """

    resizable = False
    host_simulated = True

    def __init__(self, name: str, path: str, data: bytes | None, options: SessionOptions) -> None:
        runtime = _runtime_module()
        self.backend = name
        self.version = str(getattr(sys.modules.get("tflite_micro"), "__version__", "") or "")
        self.version = self.version or _version(BACKENDS[name]) or "unknown"
        if data is None:
            data = Path(path).read_bytes()
        info = ModelOps(data)
        why = refusal(info)
        if why:
            raise BackendError(f"{name} {self.version} cannot run {path}: {why}.")
        arena = options.delegate_options.get("arena_size")
        if arena is None:
            self.arena_bytes = smallest_arena(data)
        else:
            self.arena_bytes = int(arena)
            with ArenaProbe(data) as probe:  # a too-small arena can crash the interpreter
                if not probe.fits(self.arena_bytes):
                    raise BackendError(
                        f"{name} could not allocate {path} in a {self.arena_bytes}-byte tensor "
                        f"arena: {probe.report()}. Give a larger arena_size, or leave it out "
                        "to use the smallest that allocates."
                    )
        interp = runtime.Interpreter.from_bytes(data, arena_size=self.arena_bytes)
        self._interp: Any = interp
        n_in, n_out = len(info.inputs), len(info.outputs)
        self.inputs = tuple(
            _spec(info.inputs[i], self._interp.get_input_details(i)) for i in range(n_in)
        )
        self.outputs = tuple(
            _spec(info.outputs[i], self._interp.get_output_details(i)) for i in range(n_out)
        )

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            for i, arr in enumerate(arrays):
                self._interp.set_input(arr, i)
            self._interp.invoke()
            return [self._interp.get_output(i) for i in range(len(self.outputs))]
        except (ValueError, RuntimeError) as exc:
            report = _invoke_report(self._interp) if "invocation failed" in str(exc) else ""
            raise BackendError(
                f"{self.backend} failed to run the model: {exc}"
                + (f" TFLite Micro reports: {report}." if report else "")
            ) from exc
        except AttributeError as exc:
            raise BackendError(
                "This engine is closed. Load the model again with edgeship.runtime.load()."
            ) from exc

    def close(self) -> None:
        self._interp = None


def _invoke_report(interp: Any) -> str:
    """TFLite Micro's own account of a failed run, which names the operator ("Node SELECT_V2
    (number 2) failed to invoke"): it prints it on the process's stderr, so the failed run is
    repeated once with file descriptor 2 sent to a file (only on this error path)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            interp.invoke()
        except (ValueError, RuntimeError):
            pass
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " / ".join(dict.fromkeys(lines[-4:]))


def preload(name: str) -> None:
    """Import the TFLite Micro interpreter (no model is opened)."""
    _runtime_module()


def open_session(name: str, path: str, data: bytes | None, options: SessionOptions) -> Session:
    """Open a .tflite model in the TFLite Micro interpreter.

    Raises:
        ConfigError: a delegate, providers, more than one thread, or an unknown option.
        BackendError: an operator without a TFLite Micro kernel, a dynamic-range model, or an
            arena too small.
    """
    if options.delegate or options.providers:
        raise ConfigError(
            "TFLite Micro has no delegates or execution providers. Expected neither "
            "delegate= nor providers= with backend='tflm'."
        )
    if options.threads not in (None, 1):
        raise ConfigError(
            f"TFLite Micro runs on one thread. Got: threads={options.threads}; pass threads=1 "
            "or leave it out."
        )
    unknown = sorted(set(options.delegate_options) - set(SESSION_OPTIONS))
    arena = options.delegate_options.get("arena_size")
    if unknown or (arena is not None and not str(arena).isdigit()):
        raise ConfigError(
            f"backend='tflm' takes only delegate_options={{'arena_size': BYTES}}. Got: "
            f"{dict(options.delegate_options)!r}."
        )
    return TFLMSession(name, path, data, options)
