"""``TensorSpec``: name, shape, dtype and quantization of one model input or output."""

from __future__ import annotations

import numpy as np

from edgeship._records import Value


class TensorSpec(Value):
    """One input or output tensor of a loaded model.

    Attributes:
        name: tensor name as the model file spells it.
        shape: dimensions; ``None`` marks a free dimension (e.g. a dynamic batch axis).
        dtype: numpy dtype name such as ``"float32"``, ``"int8"`` or ``"uint8"``.
        quantization: ``(scale, zero_point)`` of an affine-quantized tensor
            (``real = (q - zero_point) * scale``), or None for float tensors and quantized
            tensors without parameters.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    quantization: tuple[float, int] | None

    def __init__(
        self,
        name: str,
        shape: tuple[int | None, ...],
        dtype: str,
        quantization: tuple[float, int] | None = None,
    ) -> None:
        self._set(name=name, shape=shape, dtype=dtype, quantization=quantization)

    @property
    def np_dtype(self) -> np.dtype:
        """The numpy dtype of the tensor."""
        return np.dtype(self.dtype)

    @property
    def is_quantized(self) -> bool:
        """True when the tensor holds affine-quantized integers with known parameters."""
        return self.quantization is not None

    def describe(self, batch_free: bool = True) -> str:
        """Human-readable shape and dtype, e.g. ``(N, 8, 8, 1) float32``.

        Args:
            batch_free: write the first axis as ``N`` (the runtime takes any batch size).
        """
        dims = [("?" if d is None else str(d)) for d in self.shape]
        if batch_free and dims:
            dims[0] = "N"
        inner = ", ".join(dims) + ("," if len(dims) == 1 else "")
        return f"({inner}) {self.dtype}"
