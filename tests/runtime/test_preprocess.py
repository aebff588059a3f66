"""Card preprocessing in numpy and top-k labels."""

from __future__ import annotations

import numpy as np
import pytest

from edgeship.card import Preprocessing
from edgeship.runtime.preprocess import image_geometry, normalize, scores_of, top_k
from edgeship.runtime.specs import TensorSpec


def test_normalize_scale_offset_mean_std_per_channel():
    x = np.full((2, 2, 3), 255.0)
    pre = Preprocessing(scale=1 / 255, offset=0.0, mean=(0.5, 0.5, 0.0), std=(0.5, 0.25, 1.0))
    y = normalize(x, pre)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[0, 0], [1.0, 2.0, 1.0], rtol=1e-6)


def test_geometry_from_tensor_and_card():
    nhwc = TensorSpec("x", (None, 96, 96, 3), "float32")
    assert image_geometry(nhwc, Preprocessing()) == (96, 96, 3)
    nchw = TensorSpec("x", (None, 1, 28, 32), "float32")
    assert image_geometry(nchw, Preprocessing(layout="NCHW")) == (28, 32, 1)
    assert image_geometry(nhwc, Preprocessing(image_size=(8, 8), color_mode="grayscale")) == (
        8,
        8,
        1,
    )


def test_scores_and_top_k():
    probs = np.array([0.1, 0.7, 0.2])
    np.testing.assert_allclose(scores_of(probs), probs)
    logits = np.array([0.0, 2.0, 1.0])
    assert abs(scores_of(logits).sum() - 1) < 1e-9
    assert top_k(probs, ("a", "b", "c"), 2) == [("b", 0.7), ("c", 0.2)]
    assert [lab for lab, _ in top_k(probs, None, 5)] == ["1", "2", "0"]


def test_quantized_softmax_is_kept_as_probabilities():
    """An int8 softmax dequantized in 1/256 steps sums to 0.996: still probabilities."""
    quantized = np.zeros(10)
    quantized[3] = 255 / 256
    np.testing.assert_allclose(scores_of(quantized), quantized)
    np.testing.assert_allclose(scores_of(quantized, step=1 / 256), quantized)
    many = np.zeros(1000)
    many[0] = 0.95  # 1000 classes rounded down: beyond 0.02 off, inside half a step each
    assert not np.allclose(scores_of(many), many)
    np.testing.assert_allclose(scores_of(many, step=1 / 256), many)


def test_npy_sequence_input_keeps_its_shape(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from edgeship.runtime import load
    from edgeship.runtime.preprocess import load_input

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["seq", "axes"], ["total"], keepdims=0)],
        "sequence_sum",
        [helper.make_tensor_value_info("seq", TensorProto.FLOAT, ["N", 8, 8])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N", 8])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "seq.onnx"))
    x = np.arange(64, dtype=np.float32).reshape(8, 8)  # 8 steps of 8 features, no channel axis
    np.save(tmp_path / "x.npy", x)
    with load(tmp_path / "seq.onnx", verify=False) as engine:
        batch = load_input(tmp_path / "x.npy", engine)
        assert batch.shape == (1, 8, 8)
        np.testing.assert_array_equal(batch[0], normalize(x, Preprocessing()))
        np.testing.assert_allclose(engine.predict(batch)[0], batch[0].sum(axis=1))
