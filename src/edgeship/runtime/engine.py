"""``Engine``: one loaded model behind one small, fast ``predict``.

Thread safety: one Engine may be called from many threads. TFLite interpreters are not
thread-safe, so an Engine on a TFLite backend holds one interpreter behind a lock and
concurrent calls run one after another (use ``threads=`` for parallelism inside a call, or one
Engine per worker for parallel calls). ONNX Runtime sessions are thread-safe, so an Engine on
onnxruntime takes no lock and concurrent calls run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeship.errors import BackendError, ModelLoadError
from edgeship.runtime import quant
from edgeship.runtime._inputs import aliases, prepare, split_inputs
from edgeship.runtime.backends import Session
from edgeship.runtime.ranges import NEVER, SAMPLE_EVERY, RangeGuard
from edgeship.runtime.specs import TensorSpec

if TYPE_CHECKING:
    from edgeship.card import ModelCard

Output = np.ndarray | dict[str, np.ndarray]
_UNSET: Any = object()
_F32 = np.dtype(np.float32)


def _dequantizer(spec: TensorSpec) -> Callable[[np.ndarray], np.ndarray] | None:
    if spec.quantization is None:
        return None
    scale, zero_point = np.float32(spec.quantization[0]), np.float32(spec.quantization[1])

    def dequantize(q: np.ndarray) -> np.ndarray:  # same arithmetic as quant.dequantize
        out = q.astype(_F32)
        out -= zero_point
        out *= scale
        return out

    return dequantize


def _quantizer(spec: TensorSpec) -> Callable[[np.ndarray], np.ndarray] | None:
    """float32 -> the input's integer dtype, the same arithmetic as ``quant.quantize``."""
    if spec.quantization is None or spec.np_dtype.kind not in "iu":
        return None
    scale, zero_point = np.float32(spec.quantization[0]), np.float32(spec.quantization[1])
    info = np.iinfo(spec.np_dtype)
    lo, hi, dtype = np.float32(info.min), np.float32(info.max), spec.np_dtype
    divide, rint, add, minimum, maximum = np.divide, np.rint, np.add, np.minimum, np.maximum
    total = np.add.reduce

    def quantize(x: np.ndarray) -> np.ndarray:
        # The ufuncs themselves, in place, with float32 bounds: np.clip's and ndarray.sum's
        # Python wrappers and int-scalar type resolution cost more than the NaN check.
        q = divide(x, scale)
        rint(q, out=q)
        add(q, zero_point, out=q)
        minimum(q, hi, out=q)
        maximum(q, lo, out=q)
        s = total(q, None)  # NaN survives rint, minimum and maximum; all else is bounded
        if s != s:
            quant.quantize(x, float(scale), int(zero_point), dtype)  # raises its NaN error
        return q.astype(dtype)

    return quantize


def _renamed(specs: tuple[TensorSpec, ...], names: tuple[str, ...]) -> tuple[TensorSpec, ...]:
    if len(names) != len(specs):
        return specs
    return tuple(s if s.name == n else s.replace(name=n) for s, n in zip(specs, names, strict=True))


class _ClosedSession(Session):
    def run(self, arrays: Any) -> list[np.ndarray]:
        raise BackendError(
            "This engine is closed. Load the model again with edgeship.runtime.load()."
        )

    def run1(self, x: np.ndarray) -> np.ndarray:
        return self.run((x,))[0]


class Engine:
    """A model loaded on one backend. Build it with :func:`edgeship.runtime.load`.

    Safe to share between threads: calls are serialised by a lock on TFLite backends and run
    in parallel on onnxruntime (see the module docstring).

    Attributes:
        inputs: input tensors (name, shape with None for free dimensions, dtype, quantization),
            named as the model names them, the same on every variant of one model (see
            :mod:`edgeship.runtime.names`).
        outputs: output tensors, named as the model names them.
        artifact_inputs: the input tensors as the artifact file names them (e.g.
            ``serving_default_image:0``); these names are accepted as input keys too.
        artifact_outputs: the output tensors as the artifact file names them.
        format: ``"tflite"`` or ``"onnx"``.
        backend: backend name, a key of
            :data:`edgeship.runtime.backends.BACKENDS` (``"litert"``, ``"onnxruntime"``,
            ``"openvino"``, ``"litert-compiled"``, ...).
        backend_version: installed version of the backend package.
        providers: the ONNX Runtime execution providers that started, in order (the first
            runs the model where it can); None on TFLite backends.
        device: the device or accelerator the model runs on (``"CPU"`` on openvino, ``"cpu"``
            on litert-compiled); None on backends that take no device.
        path: the artifact file.
    """

    def __init__(
        self,
        session: Session,
        path: Path,
        fmt: str,
        names: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> None:
        """``names``: the model's names of the inputs and outputs, in the artifact's order
        (None: the artifact's own)."""
        self._session = session
        self.path = path
        self.format = fmt
        self.backend = session.backend
        self.backend_version = session.version
        self.providers = session.providers
        self.device = session.device
        self.artifact_inputs: tuple[TensorSpec, ...] = tuple(session.inputs)
        self.artifact_outputs: tuple[TensorSpec, ...] = tuple(session.outputs)
        in_names, out_names = names or ((), ())
        self.inputs = _renamed(self.artifact_inputs, in_names)
        self.outputs = _renamed(self.artifact_outputs, out_names)
        self._lock: threading.Lock | None = None if session.thread_safe else threading.Lock()
        self._card: Any = _UNSET
        # Input keys: the artifact's names and their short forms, then the model's (they win).
        self._names = {a: i for i, s in enumerate(self.artifact_inputs) for a in aliases(s.name)}
        self._names.update({a: i for i, s in enumerate(self.inputs) for a in aliases(s.name)})
        self._post = [_dequantizer(s) for s in self.outputs]
        # Inputs whose batch axis is fixed: batches of another size are run in chunks.
        self._fixed_batch = [
            s.shape[0] if s.shape and s.shape[0] is not None else None for s in self.inputs
        ]
        self._single = len(self.inputs) == 1 and len(self.outputs) == 1
        self._fast_dtype = self.inputs[0].np_dtype if self._single else None
        self._fast_shape: tuple[int, ...] | None = None
        self._post0 = self._post[0] if self._single else None
        self._fast_quant = _quantizer(self.inputs[0]) if self._single else None
        self._run1 = session.run1
        # Input-range checks (edgeship.runtime.ranges): on the first call, then sampled.
        self._guard: RangeGuard | None = None
        self._tick = 1

    # ----------------------------------------------------------------- prediction
    def predict(self, x: Any, raw: bool = False, check_finite: bool = False) -> Output:
        """Run the model.

        Args:
            x: an array (single-input model), a list of arrays in input order, or a dict by
                input name (``serving_default_`` prefixes and ``:0`` suffixes may be left
                out). Any batch size. Float values given to an int8/uint8 input with
                quantization parameters are quantized; values already of the input's dtype
                are passed as they are.
            raw: skip quantization and dequantization: integer inputs and outputs as stored.
            check_finite: refuse NaN/Inf in float inputs (InvalidInputError) and outputs
                (BackendError). Without it a float input passes NaN/Inf to the model (an
                :class:`~edgeship.runtime.ranges.InputRangeWarning` says so, once) and a
                quantized integer input refuses NaN (InvalidInputError).

        Inputs far outside the value range recorded in the model card, or beyond what a
        quantized input can represent, get one ``InputRangeWarning`` per input (checked on
        the first call and then on a sample of calls; see :mod:`edgeship.runtime.ranges`).

        Returns:
            The output array (single-output model) or ``{output name: array}``. Quantized
            outputs come back as float32 unless ``raw=True``.

        Raises:
            InvalidInputError: wrong number, names, shapes, ranks or dtypes of inputs.
            BackendError: the backend failed, or the engine is closed.
        """
        # Hot path: one input, one output, an array of the shape of the last call.
        if type(x) is np.ndarray and x.shape == self._fast_shape and not (raw or check_finite):
            self._tick -= 1
            if self._tick <= 0:
                self._sample((x,), False, 3)
            dtype = x.dtype
            if dtype == self._fast_dtype and x.flags.c_contiguous:
                pass
            elif dtype == _F32 and self._fast_quant is not None:
                x = self._fast_quant(x)
            else:
                return self._predict(x, raw, check_finite)
            lock = self._lock
            if lock is None:
                y = self._run1(x)
            else:
                with lock:
                    y = self._run1(x)
            post = self._post0
            return y if post is None else post(y)
        return self._predict(x, raw, check_finite)

    def _predict(self, x: Any, raw: bool, check_finite: bool) -> Output:
        values = split_inputs(x, self.inputs, self._names)
        self._tick -= 1
        if self._tick <= 0:
            self._sample(values, raw, 4)
        arrays = [
            prepare(v, s, raw, check_finite) for v, s in zip(values, self.inputs, strict=False)
        ]
        batch = self._batch_size(arrays)
        if batch is not None and any(b is not None and b != batch for b in self._fixed_batch):
            results = self._run_chunked(arrays, batch)
        else:
            results = self._run(arrays)
            if self._single and arrays[0].flags.c_contiguous:
                self._fast_shape = arrays[0].shape
        return self._finish(results, raw, check_finite)

    def _sample(self, values: Any, raw: bool, stacklevel: int) -> None:
        """Run the input-range checks on this call's inputs; schedule the next sample.
        ``stacklevel``: the user's frame, counted from here (1)."""
        guard = self._guard
        if guard is None:
            try:
                card = self.card
            except ModelLoadError:  # a broken card beside the model: no ranges to check
                card = None
            guard = self._guard = RangeGuard(self.inputs, card)
        guard.check(values, raw, stacklevel)
        self._tick = NEVER if guard.done else SAMPLE_EVERY

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self._lock is None:
            return self._session.run(arrays)
        with self._lock:
            return self._session.run(arrays)

    def _batch_size(self, arrays: list[np.ndarray]) -> int | None:
        sizes = {a.shape[0] for a in arrays if a.ndim}
        if len(sizes) > 1:
            from edgeship.errors import InvalidInputError

            got = {s.name: a.shape[0] for s, a in zip(self.inputs, arrays, strict=False) if a.ndim}
            raise InvalidInputError(
                f"All inputs must have the same batch size (first axis). Got: {got}."
            )
        return sizes.pop() if sizes else None

    def _run_chunked(self, arrays: list[np.ndarray], batch: int) -> list[np.ndarray]:
        step = next(b for b in self._fixed_batch if b is not None)
        parts: list[list[np.ndarray]] = []
        for start in range(0, batch, step):
            chunk = []
            for a, fixed in zip(arrays, self._fixed_batch, strict=False):
                if a.ndim == 0:
                    chunk.append(a)
                    continue
                piece = a[start : start + step]
                if fixed is not None and piece.shape[0] < fixed:
                    pad = [(0, fixed - piece.shape[0])] + [(0, 0)] * (a.ndim - 1)
                    piece = np.pad(piece, pad, mode="edge")
                chunk.append(np.ascontiguousarray(piece))
            out = self._run(chunk)
            take = min(step, batch - start)
            parts.append([o[:take] if o.ndim else o for o in out])
        return [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]

    def _finish(self, results: list[np.ndarray], raw: bool, check_finite: bool) -> Output:
        if not raw:
            results = [r if f is None else f(r) for r, f in zip(results, self._post, strict=False)]
        if check_finite:
            for spec, r in zip(self.outputs, results, strict=False):
                if r.dtype.kind == "f" and not np.isfinite(r).all():
                    raise BackendError(
                        f"output '{spec.name}' holds NaN/Inf values (check_finite=True). The "
                        "model or its inputs produce non-finite numbers."
                    )
        if len(results) == 1:
            return results[0]
        return {s.name: r for s, r in zip(self.outputs, results, strict=False)}

    # ----------------------------------------------------------------- extras
    def predict_image(self, path: str | Path, top_k: int = 5) -> list[tuple[str, float]]:
        """Classify an image file with the card's preprocessing; top ``top_k`` labels and scores.

        The file's bit depth (0..255, 0..65535) is mapped onto the card's raw domain first
        (:mod:`edgeship.runtime.images`), so a 0..255 PNG reaches the model in the value range
        it was trained on.

        Needs Pillow (``pip install 'edgeship[image]'``) for .png/.jpg; .npy files work without.
        """
        from edgeship.runtime.preprocess import predict_image

        return predict_image(self, path, top_k=top_k)

    @property
    def card(self) -> ModelCard | None:
        """The model card (``edgeship.json``) beside the artifact, or None."""
        if self._card is _UNSET:
            # edgeship.card.CARD_FILENAME; the card module is imported only when there is one.
            candidate = self.path.parent / "edgeship.json"
            if candidate.is_file():
                from edgeship.card import load_card

                self._card = load_card(candidate)
            else:
                self._card = None
        return self._card  # type: ignore[no-any-return]

    def op_placement(self) -> dict[str, int] | None:
        """Where the model's ops run: for TFLite ``ops``, ``delegated``, ``cpu`` and delegate
        ``partitions``; for ONNX Runtime the node count per execution provider (from one
        profiled run). None where the backend cannot tell."""
        if self._lock is None:
            return self._session.op_placement()
        with self._lock:
            return self._session.op_placement()

    def close(self) -> None:
        """Release the backend; later calls raise BackendError."""
        session, self._session = self._session, _ClosedSession()
        self._run1 = self._session.run1
        self._fast_shape = None
        session.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}: {s.describe()}" for s in self.inputs)
        return f"<Engine {self.path.name} on {self.backend} {self.backend_version} [{ins}]>"
