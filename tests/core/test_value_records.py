"""Value records (tensor specs, backend options, samples) behave as the frozen dataclasses they
replace: compared, hashed and printed by their fields, immutable, copied and pickled whole."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from edgeship.runtime.backends import BACKENDS, BackendInfo, SessionOptions
from edgeship.runtime.specs import TensorSpec
from edgeship.samples import Samples


def test_tensor_spec_equality_hash_and_repr():
    a = TensorSpec("x", (None, 8, 8, 1), "int8", (0.5, -3))
    b = TensorSpec(name="x", shape=(None, 8, 8, 1), dtype="int8", quantization=(0.5, -3))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != TensorSpec("x", (None, 8, 8, 1), "int8")
    assert a != ("x", (None, 8, 8, 1), "int8", (0.5, -3))  # not a tuple
    assert (
        repr(a)
        == "TensorSpec(name='x', shape=(None, 8, 8, 1), dtype='int8', quantization=(0.5, -3))"
    )
    assert TensorSpec("y", (1,), "float32").quantization is None


def test_records_are_immutable_and_replace_makes_a_copy():
    spec = TensorSpec("x", (1, 4), "float32")
    with pytest.raises(AttributeError, match="immutable"):
        spec.dtype = "int8"  # type: ignore[misc]
    assert spec.replace(dtype="int8") == TensorSpec("x", (1, 4), "int8")
    assert spec.dtype == "float32"


def test_session_options_default_dict_is_per_instance():
    a, b = SessionOptions(), SessionOptions(threads=2)
    assert a.delegate_options == {} and a.delegate_options is not b.delegate_options
    assert a == SessionOptions(None, None, {}, None) and a != b
    with pytest.raises(TypeError):  # holds a dict, like the frozen dataclass it was
        hash(a)


def test_records_pickle_and_copy_whole():
    spec = TensorSpec("x", (None, 3), "uint8", (0.1, 128))
    options = SessionOptions(threads=1, delegate_options={"k": "v"}, providers=("cpu",))
    for record in (spec, options, BACKENDS["litert"]):
        for clone in (pickle.loads(pickle.dumps(record)), copy.copy(record), copy.deepcopy(record)):
            assert clone == record and type(clone) is type(record)
    assert isinstance(BACKENDS["litert"], BackendInfo)
    assert BACKENDS["litert"].distributions == ("ai-edge-litert",)


def test_samples_keep_their_arrays():
    x, y = np.zeros((3, 2), np.float32), np.arange(3)
    samples = Samples({"x": x}, y)
    assert samples.inputs["x"] is x and samples.labels is y and len(samples) == 3
    assert samples == samples and samples == Samples({"x": x}, y)  # the same arrays
    assert Samples({"x": x}).labels is None
    assert samples.take(2).labels.tolist() == [0, 1]
    clone = pickle.loads(pickle.dumps(samples))
    assert np.array_equal(clone.single, x) and np.array_equal(clone.labels, y)
