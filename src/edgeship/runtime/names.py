"""The model's tensor names for an artifact's tensors, so every variant answers to the same ones.

A TFLite file names its tensors ``serving_default_image:0`` / ``StatefulPartitionedCall:0``;
an ONNX file ``image`` / ``probabilities``. Clients use the model's (Keras) names on every
variant; the artifact's own names stay readable on :attr:`Engine.artifact_inputs`.

Where the names come from, first match wins:

1. ``tensor_names`` of the artifact's record in ``manifest.json`` beside it (convert writes
   ``{"inputs": {artifact name: model name}, "outputs": {...}}`` from its parity run);
2. the model card (``edgeship.json``) beside it: its input and output names, matched by name
   (``serving_default_`` and ``:N`` left out), by the ``:N`` output index, else by order;
3. the artifact alone: inputs lose ``serving_default_`` and ``:0`` when no two collide;
   outputs keep their names (nothing says which model output each one is).

Standard library only: this runs on the runtime's load path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeship.errors import InvalidInputError, ModelLoadError

_SUFFIX = re.compile(r"^(.*?):(\d+)$")
_PREFIX = "serving_default_"
Names = tuple[tuple[str, ...], tuple[str, ...]]


def normalize_name(name: str) -> str:
    """``serving_default_img:0`` -> ``img``; ``img`` -> ``img``."""
    base = name.split(":")[0]
    return base[len(_PREFIX) :] if base.startswith(_PREFIX) else base


def _same_count(kind: str, engine_names: Sequence[str], source_names: Sequence[str]) -> None:
    """Refuse an artifact whose number of ``kind`` (inputs, outputs) differs from the source's.

    Raises:
        InvalidInputError: naming both lists.
    """
    if len(engine_names) != len(source_names):
        raise InvalidInputError(
            f"The artifact has {len(engine_names)} {kind} {list(engine_names)}; the source model "
            f"has {len(source_names)} {list(source_names)}. Expected the same {kind}: convert "
            "the artifact from this model again."
        )


def align_inputs(engine_names: Sequence[str], source_names: Sequence[str]) -> dict[str, str]:
    """Map each source input name to the artifact's input name (by name, else by order).

    Raises:
        InvalidInputError: the two have different numbers of inputs.
    """
    _same_count("inputs", engine_names, source_names)
    by_norm = {normalize_name(n): n for n in engine_names}
    if all(s in by_norm for s in source_names):
        return {s: by_norm[s] for s in source_names}
    return dict(zip(source_names, engine_names, strict=True))


def align_outputs(engine_names: Sequence[str], source_names: Sequence[str]) -> list[int]:
    """For each source output, the index of the matching artifact output.

    Matches by name (ONNX keeps the Keras names), then by the ``:N`` suffix TFLite gives
    signature outputs (``StatefulPartitionedCall:1`` is the second output), else by order.

    Raises:
        InvalidInputError: the two have different numbers of outputs.
    """
    _same_count("outputs", engine_names, source_names)
    norm = [normalize_name(n) for n in engine_names]
    if all(s in norm for s in source_names):
        return [norm.index(s) for s in source_names]
    matches = [_SUFFIX.match(n) for n in engine_names]
    if all(matches) and len({m.group(1) for m in matches if m}) == 1:
        numbers = [int(m.group(2)) for m in matches if m]
        if sorted(numbers) == list(range(len(numbers))):
            return [numbers.index(i) for i in range(len(numbers))]
    return list(range(len(source_names)))


def tensor_names(
    artifact_in: Sequence[str],
    artifact_out: Sequence[str],
    model_in: Sequence[str],
    model_out: Sequence[str],
) -> dict[str, dict[str, str]]:
    """The manifest's ``tensor_names`` record: ``{"inputs": {artifact name: model name},
    "outputs": {...}}``, in the artifact's order.

    Raises:
        InvalidInputError: the artifact and the model have different numbers of tensors.
    """
    by_model = align_inputs(artifact_in, model_in)
    inputs = {a: m for m, a in by_model.items()}
    order = align_outputs(artifact_out, model_out)
    outputs = {artifact_out[i]: m for i, m in zip(order, model_out, strict=True)}
    return {
        "inputs": {a: inputs[a] for a in artifact_in},
        "outputs": {a: outputs[a] for a in artifact_out},
    }


def _from_record(record: Any, artifact_in: Sequence[str], artifact_out: Sequence[str]) -> Names:
    """Model names from a manifest's ``tensor_names`` (ValueError when it does not fit)."""
    if not isinstance(record, Mapping):
        raise ValueError("no tensor_names")
    found = []
    for key, names in (("inputs", artifact_in), ("outputs", artifact_out)):
        mapping = record.get(key)
        if not isinstance(mapping, Mapping) or set(mapping) != set(names):
            raise ValueError(f"tensor_names.{key} does not name this artifact's tensors")
        found.append(tuple(str(mapping[n]) for n in names))
    return _unique(found[0]), _unique(found[1])


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"names must be unique and non-empty: {list(names)}")
    return names


def derived(artifact_in: Sequence[str], artifact_out: Sequence[str]) -> Names:
    """Names from the artifact alone: inputs without ``serving_default_``/``:0`` (unless two
    collide or one is empty), outputs as they are."""
    short = tuple(normalize_name(n) for n in artifact_in)
    ok = all(short) and len(set(short)) == len(short)
    return (short if ok else tuple(artifact_in)), tuple(artifact_out)


def _manifest_names(path: Path, artifact_in: Sequence[str], artifact_out: Sequence[str]) -> Names:
    from edgeship.manifest import MANIFEST_FILENAME, Manifest

    manifest = path.parent / MANIFEST_FILENAME
    if not manifest.is_file():
        raise ValueError("no manifest")
    record = Manifest.read(manifest, require_schema=False).for_file(path.name)
    if record is None:
        raise ValueError("not in the manifest")
    return _from_record(record.extra.get("tensor_names"), artifact_in, artifact_out)


def _card_names(path: Path, artifact_in: Sequence[str], artifact_out: Sequence[str]) -> Names:
    candidate = path.parent / "edgeship.json"  # edgeship.card.CARD_FILENAME
    if not candidate.is_file():
        raise ValueError("no card")
    from edgeship.card import load_card

    card = load_card(candidate)
    mapping = tensor_names(
        artifact_in, artifact_out, [t.name for t in card.inputs], [t.name for t in card.outputs]
    )
    return _from_record(mapping, artifact_in, artifact_out)


def model_names(path: Path, artifact_in: Sequence[str], artifact_out: Sequence[str]) -> Names:
    """The names clients use for the tensors of the artifact at ``path`` (module docstring)."""
    for source in (_manifest_names, _card_names):
        try:
            return source(path, artifact_in, artifact_out)
        except (ValueError, OSError, ModelLoadError):  # InvalidInputError is a ValueError
            continue
    return derived(artifact_in, artifact_out)
