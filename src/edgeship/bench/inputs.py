"""Inputs for a benchmark: batches from eval samples or synthetic data of the right shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from edgeship.errors import InvalidInputError
from edgeship.metrics import top1_accuracy as top1_accuracy  # re-exported

#: How many distinct query batches are cycled through (so no run sees only one input).
POOL_SIZE = 8


class Spec(Protocol):
    """What the benchmark reads from a tensor spec (``edgeship.runtime.TensorSpec``)."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> tuple[int | None, ...]: ...

    @property
    def dtype(self) -> str: ...


Batch = dict[str, np.ndarray]


def concrete_shape(shape: Sequence[int | None], batch: int) -> tuple[int, ...]:
    """``shape`` with the first axis set to ``batch`` and other free axes set to 1."""
    dims = [1 if (d is None or d < 0) else int(d) for d in shape]
    if dims:
        dims[0] = batch
    return tuple(dims)


def synthetic(specs: Sequence[Spec], count: int, seed: int = 0, quantized: bool = False) -> Batch:
    """Random inputs for ``specs``: ``count`` samples each.

    Float tensors get standard-normal values. Integer tensors get float values when
    ``quantized`` is False (the runtime quantizes them) and uniform integers of their dtype
    when True (for raw backends that take the stored dtype).
    """
    rng = np.random.default_rng(seed)
    out: Batch = {}
    for spec in specs:
        shape = concrete_shape(spec.shape, count)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f" or (not quantized and dtype.kind in "iu"):
            out[spec.name] = rng.standard_normal(shape).astype(
                dtype if dtype.kind == "f" else np.float32
            )
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            lo, hi = max(info.min, -128), min(info.max, 127)
            out[spec.name] = rng.integers(lo, hi + 1, size=shape).astype(dtype)
        elif dtype.kind == "b":
            out[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            raise InvalidInputError(
                f"Cannot make benchmark data for input {spec.name!r} of dtype {spec.dtype}. "
                "Expected a float, integer or bool tensor; pass --eval with real samples."
            )
    return out


def from_samples(specs: Sequence[Spec], inputs: dict[str, np.ndarray]) -> Batch:
    """Match sample arrays (``x`` or one per input name) to the model's inputs."""
    if len(specs) == 1 and len(inputs) == 1:
        return {specs[0].name: next(iter(inputs.values()))}
    missing = [s.name for s in specs if s.name not in inputs]
    if missing:
        raise InvalidInputError(
            f"The eval samples hold inputs {sorted(inputs)}; the model needs "
            f"{[s.name for s in specs]} (missing {missing}). Save them as 'x:<input name>'."
        )
    return {s.name: inputs[s.name] for s in specs}


def query_pool(data: Batch, batch: int, size: int = POOL_SIZE) -> list[Batch]:
    """Up to ``size`` distinct batches of ``batch`` samples cut from ``data`` (tiled if short)."""
    count = int(next(iter(data.values())).shape[0])
    if count == 0:
        raise InvalidInputError("Benchmark data holds no samples. Expected at least one.")
    pool = []
    for k in range(max(1, min(size, count // batch or 1))):
        idx = (np.arange(batch) + k * batch) % count
        pool.append({name: np.ascontiguousarray(arr[idx]) for name, arr in data.items()})
    return pool


def as_model_input(batch_data: Batch) -> Any:
    """A single array for one-input models, else the dict by name."""
    if len(batch_data) == 1:
        return next(iter(batch_data.values()))
    return batch_data
