"""Affine quantization helpers."""

from __future__ import annotations

import numpy as np
import pytest

from edgeship.errors import InvalidInputError
from edgeship.runtime.quant import check_int_range, dequantize, quantize
from edgeship.runtime.specs import TensorSpec


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([-10.0, -0.5, 0.0, 0.5, 1.5, 2.5, 1000.0], np.float32)
    q = quantize(x, 1.0, 0, np.dtype(np.int8))
    assert q.dtype == np.int8
    assert q.tolist() == [-10, 0, 0, 0, 2, 2, 127]
    assert quantize(np.array([-1.0]), 0.5, 10, np.dtype(np.uint8)).tolist() == [8]
    assert quantize(np.array([-100.0]), 0.5, 10, np.dtype(np.uint8)).tolist() == [0]


def test_round_trip_within_half_a_step():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 1000).astype(np.float32)
    scale, zp = 2 / 255, -1
    back = dequantize(quantize(x, scale, zp, np.dtype(np.int8)), scale, zp)
    assert back.dtype == np.float32
    assert np.abs(back - x).max() <= scale / 2 + 1e-7


def test_nan_has_no_integer_value_and_is_refused():
    x = np.array([0.5, np.nan, 1.0, np.nan], np.float32)
    with pytest.raises(
        InvalidInputError, match=r"holds 2 NaN value\(s\), which an integer \(int8\)"
    ):
        quantize(x, 0.1, 0, np.dtype(np.int8))
    inf = quantize(np.array([np.inf, -np.inf], np.float32), 0.1, 0, np.dtype(np.int8))
    assert inf.tolist() == [127, -128]  # infinities saturate


def test_check_int_range():
    assert check_int_range(np.array([0, 255]), np.dtype(np.uint8), "x").dtype == np.uint8
    with pytest.raises(InvalidInputError, match=r"x holds values in \[-1, 3\], outside the uint8"):
        check_int_range(np.array([-1, 3]), np.dtype(np.uint8), "x")
    with pytest.raises(InvalidInputError, match=r"x holds values in \[0, 256\], outside the uint8"):
        check_int_range(np.array([0, 256]), np.dtype(np.uint8), "x")
    with pytest.raises(InvalidInputError, match="non-integer floats"):
        check_int_range(np.array([0.5]), np.dtype(np.int8), "x")


def test_tensor_spec_describe():
    assert TensorSpec("x", (None, 8, 8, 1), "float32").describe() == "(N, 8, 8, 1) float32"
    assert TensorSpec("x", (None, 3, None), "int8").describe() == "(N, 3, ?) int8"
    assert TensorSpec("x", (4,), "uint8").describe() == "(N,) uint8"
    assert TensorSpec("x", (2, 4), "uint8").describe(batch_free=False) == "(2, 4) uint8"
    assert TensorSpec("x", (), "float32").describe() == "() float32"
    assert not TensorSpec("x", (1,), "float32").is_quantized
