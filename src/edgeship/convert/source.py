"""Load the source model (``.keras``, ``.h5`` or a SavedModel directory) inside the worker.

This module imports TensorFlow and Keras: only the converter worker process uses it. It
exports the SavedModel once per convert (every variant reuses it) and computes the reference
outputs that parity compares the artifacts against.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.card import ModelCard, TensorInfo
from edgeship.convert.input_shapes import apply_input_shapes, parse_input_shapes
from edgeship.errors import ConversionError, MissingModuleError, ModelLoadError
from edgeship.modelfile import is_safe_mode_refusal, safe_mode_refusal

RECURRENT_LAYERS = frozenset(
    {"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
)
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass
class SourceModel:
    """A loaded source model and what the converters need to know about it."""

    path: Path
    kind: str  # "keras" or "saved_model"
    inputs: tuple[TensorInfo, ...]
    output_names: tuple[str, ...]
    recurrent: bool
    workdir: Path
    keras_model: Any = None
    signature: Any = None
    signature_outputs: tuple[str, ...] = ()
    _saved_model_dir: Path | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    def saved_model_dir(self) -> Path:
        """Return the SavedModel directory, exporting it the first time (once per convert)."""
        if self._saved_model_dir is None:
            target = self.workdir / "saved_model"
            if not (target / "saved_model.pb").is_file():
                try:
                    export_saved_model(self.keras_model, self.inputs, target)
                except Exception as exc:
                    raise ConversionError(_explain_export_error(exc)) from exc
            self._saved_model_dir = target
        return self._saved_model_dir

    def unrolled_saved_model_dir(self) -> Path | None:
        """SavedModel of a copy whose recurrent layers are unrolled (``unroll=True``).

        Full-integer quantization of the frozen recurrent graph crashes the TFLite converter;
        the unrolled graph (fixed time steps) quantizes to builtin ops. Returns None when the
        model cannot be cloned from its config or has a free time axis.
        """
        if "unrolled" in self._cache:
            return self._cache["unrolled"]  # type: ignore[no-any-return]
        target = self.workdir / "saved_model_unrolled"
        result: Path | None = None
        if (target / "saved_model.pb").is_file():
            result = target
        elif self.keras_model is not None and all(
            d is not None for t in self.inputs for d in t.shape[1:]
        ):
            try:
                config = self.keras_model.get_config()
                _set_unroll(config)
                clone = type(self.keras_model).from_config(config)
                clone.set_weights(self.keras_model.get_weights())
                export_saved_model(clone, self.inputs, target)
                result = target
            except Exception:  # cloning is an optimisation; the frozen route remains
                result = None
        self._cache["unrolled"] = result
        return result

    def predict(self, inputs: dict[str, np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
        """Run the source model on ``inputs`` (by input name); returns outputs in order."""
        ordered = [np.asarray(inputs[n]) for n in self.input_names]
        if self.keras_model is not None:
            feed = structured_inputs(self.keras_model, ordered)
            result = self.keras_model.predict(feed, batch_size=batch_size, verbose=0)
            outs = list(result.values()) if isinstance(result, dict) else result
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            return [np.asarray(o) for o in outs]
        tf = require("tensorflow", "convert", "run a SavedModel")
        chunks: list[list[np.ndarray]] = []
        count = ordered[0].shape[0]
        for start in range(0, count, batch_size):
            feed = {
                n: tf.constant(a[start : start + batch_size])
                for n, a in zip(self.input_names, ordered, strict=True)
            }
            result = self.signature(**feed)
            chunks.append([result[k].numpy() for k in self.signature_outputs])
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(self.output_names))]

    def concrete_function(self, batch: int | None, frozen: bool) -> Any:
        """A ``tf.function`` of the model with a fixed (or free) batch, optionally frozen.

        The frozen fixed-batch route is the one that converts Keras 3 LSTM/GRU models to
        builtin TFLite ops.
        """
        key = f"cf:{batch}:{frozen}"
        if key in self._cache:
            return self._cache[key]
        tf = require("tensorflow", "convert", "trace the model")
        model = self.keras_model
        specs = [
            tf.TensorSpec((batch, *t.shape[1:]), tf.as_dtype(t.dtype), name=t.name)
            for t in self.inputs
        ]

        def call(*xs: Any) -> Any:
            out = model(structured_inputs(model, xs), training=False)
            if isinstance(out, dict):
                out = list(out.values())
            return list(out) if isinstance(out, (list, tuple)) else [out]

        fn = tf.function(call, input_signature=specs)
        concrete = fn.get_concrete_function()
        if frozen:
            from tensorflow.python.framework.convert_to_constants import (
                convert_variables_to_constants_v2,
            )

            concrete = convert_variables_to_constants_v2(concrete)
        self._cache[key] = (concrete, fn)
        return self._cache[key]


def structured_inputs(model: Any, flat: Any) -> Any:
    """The model's inputs in the structure it was built with, from a flat sequence.

    ``flat`` is in the order of ``model.inputs`` (the flattened structure: a dict's keys
    sorted). A model built on one input takes the tensor itself; one built on a dict of inputs
    (e.g. ``{token_ids, segment_ids, padding_mask}`` around a nested backbone) gets the dict
    back, keyed by name: called with a list, such a model fails ("The structure of `inputs`
    doesn't match the expected structure").
    """
    items = list(flat)
    struct = getattr(model, "_inputs_struct", None)
    if struct is None or (len(items) == 1 and not isinstance(struct, (dict, list, tuple))):
        return items[0] if len(items) == 1 else items
    from keras import tree

    return tree.pack_sequence_as(struct, items)


def export_saved_model(model: Any, inputs: tuple[TensorInfo, ...], target: Path) -> Path:
    """Save ``model`` as a SavedModel whose ``serving_default`` takes the inputs by name.

    Written with an explicit signature instead of ``model.export``: on a two-input test model
    the SavedModel from ``model.export`` (Keras 3.15) disagreed with the model itself (max
    error 0.16), while this signature matches it exactly. Outputs are ``output_0``,
    ``output_1``... in the model's output order.
    """
    tf = require("tensorflow", "convert", "export a SavedModel")
    specs = [tf.TensorSpec(t.shape, tf.as_dtype(t.dtype), name=t.name) for t in inputs]
    count = len(model.outputs)
    width = len(str(max(count - 1, 0)))

    def serve(*xs: Any) -> dict[str, Any]:
        out = model(structured_inputs(model, xs), training=False)
        if isinstance(out, dict):
            out = list(out.values())
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return {f"output_{i:0{width}d}": o for i, o in enumerate(outs)}

    keras = require("keras", "convert", "export a SavedModel")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=specs)
    archive.write_out(str(target), verbose=False)
    return target


def load_source(
    path: str | Path,
    card: ModelCard | None,
    workdir: Path,
    batch: int | None = None,
    input_shapes: tuple[str, ...] = (),
    unsafe: bool = False,
) -> SourceModel:
    """Load the model at ``path``; input specs come from the card when given, else the model.

    ``batch`` fixes the batch dimension of the exported model (Edge TPU compilers and many NPU
    toolchains need static shapes); None keeps it free. ``input_shapes`` (``name=1x128``)
    fix whole input shapes (see :mod:`edgeship.convert.input_shapes`). ``unsafe`` loads a
    ``.keras`` file with Keras safe mode off (code stored in the file runs: trusted files only).

    Raises:
        ModelLoadError: missing, corrupt or unsupported file, or custom objects.
    """
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(
            f"Model {p} does not exist. Expected a .keras/.h5 file or a SavedModel directory."
        )
    if p.is_dir():
        if not (p / "saved_model.pb").is_file():
            raise ModelLoadError(
                f"{p} is a directory without saved_model.pb. Expected a SavedModel directory, "
                "a .keras file or an .h5 file."
            )
        return _load_saved_model(p, card, workdir)  # its signature sets the batch
    if p.suffix.lower() not in KERAS_SUFFIXES:
        raise ModelLoadError(
            f"Cannot convert {p.name}: expected a .keras or .h5 file or a SavedModel directory. "
            f"Got suffix {p.suffix!r}."
        )
    keras = require("keras", "convert", "load Keras models")
    try:
        if p.suffix.lower() == ".keras":
            model = keras.models.load_model(p, compile=False, safe_mode=not unsafe)
        else:
            model = keras.models.load_model(p, compile=False)
    except Exception as exc:
        missing = missing_modules(p) if p.suffix.lower() == ".keras" else {}
        if missing:
            raise MissingModuleError(_explain_missing(p, missing)) from exc
        raise ModelLoadError(_explain_load_error(p, exc)) from exc
    inputs = _keras_inputs(model, card)
    if batch is not None:
        inputs = tuple(replace(t, shape=(batch, *t.shape[1:])) for t in inputs)
    inputs = apply_input_shapes(inputs, parse_input_shapes(input_shapes))
    outputs = _keras_output_names(model, card)
    return SourceModel(
        path=p,
        kind="keras",
        inputs=inputs,
        output_names=outputs,
        recurrent=_has_recurrent(model),
        workdir=workdir,
        keras_model=model,
    )


def _keras_inputs(model: Any, card: ModelCard | None) -> tuple[TensorInfo, ...]:
    found = []
    for tensor in model.inputs:
        shape = tensor.shape
        if shape is None:
            raise ModelLoadError(
                f"Input {tensor.name!r} has no fixed rank. Expected a model built with "
                "keras.Input(shape=...); rebuild it with a known input shape."
            )
        found.append(TensorInfo(str(tensor.name), tuple(shape), str(tensor.dtype)))
    # The model's own names are kept: the SavedModel signature (and so the TFLite and ONNX
    # input names) uses them.
    return tuple(found)


def _keras_output_names(model: Any, card: ModelCard | None) -> tuple[str, ...]:
    names = [str(n) for n in getattr(model, "output_names", None) or []]
    if not names:
        names = [f"output_{i}" for i in range(len(model.outputs))]
    if card is not None and len(card.outputs) == len(names):
        names = [t.name for t in card.outputs]
    return tuple(names)


def _set_unroll(config: Any) -> None:
    if isinstance(config, dict):
        if config.get("class_name") in ("LSTM", "GRU", "SimpleRNN") and isinstance(
            config.get("config"), dict
        ):
            config["config"]["unroll"] = True
        for value in config.values():
            _set_unroll(value)
    elif isinstance(config, list):
        for value in config:
            _set_unroll(value)


def _has_recurrent(model: Any) -> bool:
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if type(layer).__name__ in RECURRENT_LAYERS:
            return True
        stack.extend(getattr(layer, "layers", []) or [])
    return False


def _load_saved_model(p: Path, card: ModelCard | None, workdir: Path) -> SourceModel:
    tf = require("tensorflow", "convert", "load SavedModels")
    try:
        loaded = tf.saved_model.load(str(p))
        signature = loaded.signatures["serving_default"]
    except Exception as exc:
        raise ModelLoadError(
            f"Cannot load SavedModel {p}: {exc}. Expected a 'serving_default' signature."
        ) from exc
    _, kwargs = signature.structured_input_signature
    inputs = []
    for name, spec in kwargs.items():
        if spec.shape.rank is None:
            raise ModelLoadError(f"SavedModel input {name!r} has no fixed rank.")
        inputs.append(TensorInfo(name, tuple(spec.shape.as_list()), spec.dtype.name))
    # sorted: TensorFlow flattens output dicts by sorted key (TFLite ':N' follows it)
    sig_outputs = tuple(sorted(signature.structured_outputs))
    names = sig_outputs
    if card is not None and len(card.outputs) == len(sig_outputs):
        names = tuple(t.name for t in card.outputs)
    source = SourceModel(
        path=p,
        kind="saved_model",
        inputs=tuple(inputs),
        output_names=names,
        recurrent=False,
        workdir=workdir,
        signature=signature,
        signature_outputs=sig_outputs,
    )
    source._saved_model_dir = p
    source._cache["loaded"] = loaded
    return source


def custom_objects(path: Path) -> list[str]:
    """``Class ('layer name')`` of every object in a ``.keras`` config that Keras does not
    ship (its module is not ``keras.*``)."""
    return sorted({label for labels in _custom_by_module(path).values() for label in labels})


def _custom_by_module(path: Path) -> dict[str, list[str]]:
    """module -> ``Class ('layer name')`` labels of the objects of a ``.keras`` config that
    Keras does not ship."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    found: dict[str, list[str]] = {}
    stack: list[Any] = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module = item.get("module")
            if "class_name" in item and isinstance(module, str) and module.split(".")[0] != "keras":
                inner = item.get("config")
                name = inner.get("name") if isinstance(inner, dict) else None
                label = f"{item['class_name']}" + (f" (layer {name!r})" if name else "")
                found.setdefault(module, []).append(label)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


#: import name -> the package on PyPI that provides it, where the two differ.
_PACKAGES = {"keras_hub": "keras-hub", "keras_nlp": "keras-nlp", "keras_cv": "keras-cv"}


def missing_modules(path: Path) -> dict[str, list[str]]:
    """The modules named by a ``.keras`` config whose top-level package is not installed,
    each with the objects it should provide."""
    import importlib.util

    missing: dict[str, list[str]] = {}
    for module, labels in _custom_by_module(path).items():
        top = module.split(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing[module] = sorted(set(labels))
    return missing


def _explain_missing(path: Path, missing: dict[str, list[str]]) -> str:
    parts = [f"module {m!r} ({', '.join(labels)})" for m, labels in sorted(missing.items())]
    tops = sorted({m.split(".")[0] for m in missing})
    packages = " ".join(_PACKAGES.get(t, t.replace("_", "-")) for t in tops)
    return (
        f"Cannot load {path.name}: its config names classes from {'; '.join(parts)}, which "
        f"Python cannot import here (no package {', '.join(repr(t) for t in tops)}). Expected "
        "the module that defines these layers to be importable by convert: install the "
        f"library that provides it (e.g. pip install {packages}) into the Python that runs "
        "convert, or, for your own layers, put the module on PYTHONPATH with the classes "
        "registered by @keras.saving.register_keras_serializable(); then convert again."
    )


def _explain_load_error(path: Path, exc: Exception) -> str:
    text = str(exc)
    if is_safe_mode_refusal(exc):
        return safe_mode_refusal(path)
    custom = custom_objects(path) if path.suffix.lower() == ".keras" else []
    if custom:
        return (
            f"Cannot load {path.name}: it uses custom layers or objects that are not registered "
            f"here: {', '.join(custom)}. Register them with "
            "@keras.saving.register_keras_serializable() in a module imported before convert "
            "runs, or replace them with built-in layers and save the model again."
        )
    if "Could not locate class" in text or "Unknown layer" in text or "custom" in text.lower():
        return (
            f"Cannot load {path.name}: it uses a custom layer or object Keras does not know "
            f"({text.splitlines()[0][:300]}). Register it with "
            "@keras.saving.register_keras_serializable() in an importable module, or replace "
            "it with built-in layers, then save the model again."
        )
    return (
        f"Cannot load {path}: {type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}. "
        "Expected a model saved with model.save('model.keras') (or .h5)."
    )


def _explain_export_error(exc: Exception) -> str:
    return (
        f"Exporting the model to a SavedModel failed: {type(exc).__name__}: {str(exc)[:400]}. "
        "Layers that cannot be traced by tf.function cannot be converted; replace them with "
        "built-in Keras layers."
    )
