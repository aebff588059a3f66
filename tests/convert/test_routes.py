"""Route ladder, ONNX repair, integer inputs, fp16 of loops and name-keyed sample files, on
the zoo's architectures (random weights, converted once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from edgeship.cli.convert import format_table
from edgeship.runtime import load

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

Getter = Callable[[str], dict[str, Any]]


def _v(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in manifest["variants"] if v["name"] == name)


def test_exact_gelu_onnx_is_repaired_and_exact(arch_converted: Getter) -> None:
    manifest = arch_converted("transformer")
    record = _v(manifest, "onnx-fp32")
    assert record["status"] == "ok", record["errors"]
    assert record["parity"]["max_abs_error"] < 1e-4
    assert record["params"]["repairs"] == ["Erfc -> 1 - Erf (1 node)"]
    # a graph tf2onnx converts never tries the from-tflite route
    assert record["route"] == "default" and record["fallbacks_tried"] == []
    ops = {n.op_type for n in onnx.load(Path(manifest["_out"]) / "onnx-fp32.onnx").graph.node}
    assert "Erf" in ops and "Erfc" not in ops
    fp16 = _v(manifest, "onnx-fp16")
    assert fp16["status"] == "ok", fp16["errors"]
    assert fp16["params"]["repairs"] == record["params"]["repairs"]


def test_int16x8_keeps_operators_the_interpreter_refuses_in_float(
    arch_converted: Getter,
) -> None:
    manifest = arch_converted("transformer")
    record = _v(manifest, "tflite-int16x8")
    assert record["status"] == "ok", record["errors"]
    assert record["route"] == "int16x8+keep-float"
    assert [t["route"] for t in record["fallbacks_tried"]] == ["int16x8", "int16x8+float-ops"]
    primary, float_ops = (" ".join(t["errors"]) for t in record["fallbacks_tried"])
    # the primary names the op without a 16x8 kernel and the route that keeps it float
    assert "'NEG'" in primary and "int16x8+float-ops route" in primary
    # the float-ops route converts, but LiteRT has no int16 SQUARED_DIFFERENCE: named
    assert "cannot prepare or run operator SQUARED_DIFFERENCE" in float_ops
    # so those operators (LayerNorm's variance, one per LayerNormalization) compute in float
    kept = record["params"]["kept_float"]
    assert [k["op"] for k in kept] == ["SQUARED_DIFFERENCE", "SQUARED_DIFFERENCE"]
    assert all(k["output"].endswith("/float") for k in kept)
    assert {"NEG", "SQUARED_DIFFERENCE"} <= set(record["params"]["float_ops"])
    assert record["parity"]["cosine"] > 0.999
    with load(Path(manifest["_out"]) / "tflite-int16x8.tflite", verify=False) as engine:
        assert engine.backend == "litert"
    assert not list(Path(manifest["_out"]).glob(".routes-*"))


def test_int16x8_falls_back_to_float_ops(arch_converted: Getter) -> None:
    manifest = arch_converted("negation")
    record = _v(manifest, "tflite-int16x8")
    assert record["status"] == "ok", record["errors"]
    assert record["route"] == "int16x8+float-ops"
    assert record["params"]["float_ops"] == ["NEG"]
    (tried,) = record["fallbacks_tried"]
    assert tried["route"] == "int16x8" and "NEG" in " ".join(tried["errors"])
    assert record["parity"]["cosine"] > 0.99
    assert "ok (route int16x8+float-ops)" in format_table(manifest)
    assert (Path(manifest["_out"]) / "tflite-int16x8.tflite").is_file()


def test_onnx_from_tflite_when_tf2onnx_leaves_function_calls(arch_converted: Getter) -> None:
    manifest = arch_converted("grouped_conv")
    out = Path(manifest["_out"])
    for name in ("onnx-fp32", "onnx-int8"):
        record = _v(manifest, name)
        assert record["status"] == "ok", (name, record["errors"])
        assert record["route"] == "from-tflite"
        assert record["params"]["source"] == "tflite-fp32"
        assert record["params"]["repairs"] == [
            "TFL_GELU -> 0.5 x (1 + Erf(x / sqrt 2)) or its tanh form (1 node)"
        ]
        (tried,) = record["fallbacks_tried"]
        assert tried["route"] == "default"
        assert "StatefulPartitionedCall" in " ".join(tried["errors"])
    assert _v(manifest, "onnx-fp32")["parity"]["max_abs_error"] < 1e-4
    assert _v(manifest, "onnx-int8")["parity"]["cosine"] > 0.99
    proto = onnx.load(out / "onnx-fp32.onnx")
    assert [i.name for i in proto.graph.input] == ["pixels"]
    assert [o.name for o in proto.graph.output] == ["scores"]
    assert not proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value  # batch stays free
    assert {n.op_type for n in proto.graph.node}.isdisjoint({"StatefulPartitionedCall", "TFL_GELU"})
    with load(out / "onnx-fp32.onnx", verify=False) as engine:
        assert engine.predict({"pixels": np.zeros((3, 8, 8, 3), np.float32)}).shape == (3, 4)


def test_token_inputs_stay_integer(arch_converted: Getter) -> None:
    manifest = arch_converted("text_classifier")
    out = Path(manifest["_out"])
    int8 = _v(manifest, "tflite-int8")
    assert int8["status"] == "ok", int8["errors"]
    assert int8["params"]["integer_inputs"] == ["token_ids"]
    with load(out / "tflite-int8.tflite", verify=False) as engine:
        assert engine.inputs[0].dtype == "int32"
        assert engine.outputs[0].dtype == "int8"
    for name in ("onnx-int8", "onnx-fp16"):
        record = _v(manifest, name)
        assert record["status"] == "ok", (name, record["errors"])
    assert _v(manifest, "onnx-fp16")["params"]["integer_path_nodes_float32"] > 0
    assert _v(manifest, "onnx-fp16")["parity"]["max_abs_error"] < 5e-3


def test_recurrent_fp16_keeps_loops_float32(arch_converted: Getter) -> None:
    record = _v(arch_converted("bidirectional_gru"), "onnx-fp16")
    assert record["status"] == "ok", record["errors"]
    assert record["route"] == "fp16+loops-float32"
    assert "Loop" in record["params"]["float_ops"]
    (tried,) = record["fallbacks_tried"]
    assert tried["route"] == "fp16" and "Loop" in " ".join(tried["errors"])
    assert record["parity"]["max_abs_error"] < 5e-3


def test_samples_keyed_by_input_names(arch_dirs: Callable[[str], Path], arch_converted: Getter):
    with np.load(arch_dirs("two_input_named") / "calibration.npz") as data:
        assert sorted(data.files) == ["features", "image"]
    manifest = arch_converted("two_input_named")
    for record in manifest["variants"]:
        assert record["status"] == "ok", (record["name"], record["errors"])
        assert record["parity"]["samples"] == 20
