"""ONNX graph repair, op by op against the TensorFlow op's numbers."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgeship.convert.onnx_repair import REWRITES, repair, validate
from edgeship.errors import ConversionError

# The lowest IR version opset 17 needs: onnx's newest IR can be newer than the installed
# onnxruntime reads (onnx 1.23 writes IR 14; onnxruntime 1.23, the last for 3.10, reads 11).
OPSET_17 = [helper.make_opsetid("", 17)]
MIN_IR = helper.find_min_ir_version_for(OPSET_17)

X = np.linspace(-6.0, 6.0, 241, dtype=np.float32).reshape(1, -1)


def _single_op(op: str, **attrs: int) -> onnx.ModelProto:
    """A graph of one operator as tf2onnx writes it (default domain, opset 17)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, X.shape[1]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, X.shape[1]])
    node = helper.make_node(op, ["x"], ["y"], name=f"{op}_0", **attrs)
    graph = helper.make_graph([node], op, [x], [y])
    return helper.make_model(graph, opset_imports=OPSET_17, ir_version=MIN_IR)


def _tf_reference(op: str) -> np.ndarray:
    import tensorflow as tf

    return {"Erfc": tf.math.erfc, "TFL_GELU": tf.nn.gelu}[op](X).numpy()


@pytest.mark.parametrize("op", sorted(REWRITES))
def test_rewrite_matches_tensorflow(op: str) -> None:
    proto, repairs = repair(_single_op(op))
    assert repairs and repairs[0].startswith(f"{op} -> ")
    assert op not in {n.op_type for n in proto.graph.node}
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": X})
    np.testing.assert_allclose(got, _tf_reference(op), atol=2e-6)


def test_approximate_gelu_takes_the_tanh_form() -> None:
    import tensorflow as tf

    proto, _ = repair(_single_op("TFL_GELU", approximate=1))
    assert "Tanh" in {n.op_type for n in proto.graph.node}
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": X})
    np.testing.assert_allclose(got, tf.nn.gelu(X, approximate=True).numpy(), atol=2e-6)
    exact = tf.nn.gelu(X, approximate=False).numpy()
    assert np.abs(got - exact).max() > 1e-4  # the two forms differ: the attribute is read


def test_invalid_graph_names_the_operator() -> None:
    with pytest.raises(ConversionError, match=r"Operators that are not ONNX: \['Erfc'\]"):
        validate(_single_op("Erfc"))


def test_valid_graph_is_left_alone() -> None:
    proto, repairs = repair(_single_op("Erf"))
    assert repairs == [] and [n.op_type for n in proto.graph.node] == ["Erf"]
