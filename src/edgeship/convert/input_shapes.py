"""Fixed input shapes chosen by the user (``--input-shape name=1x128``).

A model's non-batch dimensions may be dynamic (a sequence length of ``None``): TFLite and
ONNX keep them dynamic, while microcontrollers, NPU compilers and the Edge TPU need every
dimension fixed. An override names one input and gives its whole shape, batch included.
"""

from __future__ import annotations

import re
from dataclasses import replace

from edgeship.card import TensorInfo
from edgeship.errors import ConfigError

_ENTRY = re.compile(r"^\s*([^=\s]+)\s*=\s*(\d+(?:\s*x\s*\d+)*)\s*$")
#: The largest dimension accepted (a typo such as 1x1280000000 fails here, not in a converter).
MAX_DIM = 1 << 24


def parse_input_shapes(entries: tuple[str, ...] | list[str]) -> dict[str, tuple[int, ...]]:
    """``("token_ids=1x128", ...)`` as ``{"token_ids": (1, 128), ...}``.

    Raises:
        ConfigError: an entry that is not ``NAME=DxDx...`` with positive dimensions, or a
            name given twice.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for entry in entries:
        match = _ENTRY.match(str(entry))
        dims = tuple(int(d) for d in match.group(2).split("x")) if match else ()
        if not match or not all(0 < d <= MAX_DIM for d in dims):
            raise ConfigError(
                f"Bad input shape {entry!r}. Expected NAME=DxD... with every dimension "
                f"between 1 and {MAX_DIM}, batch first, e.g. token_ids=1x128."
            )
        name = match.group(1)
        if name in shapes:
            raise ConfigError(f"Input {name!r} is given two shapes. Expected one per input.")
        shapes[name] = dims
    return shapes


def apply_input_shapes(
    inputs: tuple[TensorInfo, ...], shapes: dict[str, tuple[int, ...]]
) -> tuple[TensorInfo, ...]:
    """``inputs`` with the shapes of ``shapes`` fixed, checked against the model's own.

    Raises:
        ConfigError: a name the model has no input of, a rank that differs from the input's,
            or a dimension the model already fixes to another size.
    """
    by_name = {t.name: t for t in inputs}
    unknown = sorted(set(shapes) - set(by_name))
    if unknown:
        raise ConfigError(
            f"--input-shape names {unknown}, which the model has no input of. "
            f"Expected some of {sorted(by_name)}."
        )
    fixed = []
    for tensor in inputs:
        shape = shapes.get(tensor.name)
        if shape is None:
            fixed.append(tensor)
            continue
        model_shape = "x".join("?" if d is None else str(d) for d in tensor.shape)
        if len(shape) != len(tensor.shape) or any(
            d is not None and d != s for d, s in zip(tensor.shape[1:], shape[1:], strict=False)
        ):
            raise ConfigError(
                f"--input-shape {tensor.name}={'x'.join(map(str, shape))} does not fit the "
                f"model's input {tensor.name} of shape {model_shape} (? is free). Expected "
                f"{len(tensor.shape)} dimensions that keep the model's fixed ones."
            )
        fixed.append(replace(tensor, shape=shape))
    return tuple(fixed)
