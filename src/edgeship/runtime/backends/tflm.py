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
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import BackendError, ConfigError, ModelLoadError
from edgeship.runtime.backends import BACKENDS, Session, SessionOptions, _version
from edgeship.runtime.backends.tflm_arena import ArenaProbe, _runtime_module, smallest_arena
from edgeship.runtime.specs import TensorSpec

_REGISTER = re.compile(rb"Register_([A-Z][A-Z0-9_]*?)E?v")
SESSION_OPTIONS = ("arena_size",)


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
        limits: operators whose parameters TFLite Micro's kernels reject (each a sentence
            naming the operator and the value), e.g. an int8 SOFTMAX whose input scale is too
            small for its fixed-point multiplier (the host interpreter aborts on it).
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
            limits: dict[str, None] = {}
            for g in range(model.SubgraphsLength()):
                graph = model.Subgraphs(g)
                for k in range(graph.OperatorsLength()):
                    op = graph.Operators(k)
                    name = codes[op.OpcodeIndex()]
                    ops[name] = None
                    if _is_hybrid(model, graph, op.InputsAsNumpy().tolist(), schema):
                        hybrid[name] = None
                    if name == "SOFTMAX":
                        limit = _softmax_limit(graph, op, schema)
                        if limit:
                            limits[limit] = None
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
        self.limits = list(limits)

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


#: TFLite Micro's int8 SOFTMAX scales its input by ``scale * beta * 2**26`` with a fixed-point
#: multiplier that must exceed 1 (``QuantizeMultiplierGreaterThanOne``; the host build aborts
#: otherwise): the smallest input scale it accepts at beta 1.
SOFTMAX_MIN_SCALE = 1.0 / (1 << 26)


def _softmax_limit(graph: Any, op: Any, schema: Any) -> str | None:
    """Why TFLite Micro's int8 SOFTMAX rejects this operator's input scale, or None."""
    tensor = graph.Tensors(op.Inputs(0))
    quant = tensor.Quantization()
    if tensor.Type() != schema.TensorType.INT8 or quant is None or not quant.ScaleLength():
        return None
    beta = 1.0
    table = op.BuiltinOptions()
    if table is not None:
        options = schema.SoftmaxOptions()
        options.Init(table.Bytes, table.Pos)
        beta = float(options.Beta())
    scale = float(quant.Scale(0))
    if scale * beta > SOFTMAX_MIN_SCALE:
        return None
    return (
        f"SOFTMAX: its int8 input scale {scale:.3g} (beta {beta:g}) is below the "
        f"{SOFTMAX_MIN_SCALE:.3g} TFLite Micro's softmax kernel accepts (the logits barely "
        "vary on the calibration data: an untrained model, or calibration samples that are "
        "all alike?)"
    )


def refusal(info: ModelOps) -> str | None:
    """Why TFLite Micro cannot run the model described by ``info``, or None."""
    if info.hybrid:
        return (
            f"it is a dynamic-range (hybrid) model: {', '.join(info.hybrid)} take float "
            "activations with int8 weights, and hybrid models are not supported on TFLite "
            "Micro. Expected a full-integer (int8) or float model: convert tflite-int8 or "
            "tflm-int8"
        )
    if info.limits:
        return (
            "TFLite Micro's kernels reject an operator's parameters: "
            + "; ".join(info.limits)
            + ". Calibrate on real, varied samples of a trained model"
        )
    missing = info.missing()
    if missing:
        return (
            f"TFLite Micro has no kernel for operator(s) {', '.join(missing)} (its kernels: "
            f"{len(kernel_set())} builtin ops). Replace the layers that produce them, or build "
            "a TFLite variant for LiteRT instead"
        )
    return None


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
