"""The TFLite Micro backend on real digits artifacts, against LiteRT on the same files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import BackendError, ConfigError
from edgeship.runtime import load
from edgeship.runtime.backends import BACKENDS, available_backends

pytest.importorskip("tflite_micro", reason="tflite-micro is not installed (edgeship[tflm])")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is the reference interpreter")

from edgeship.runtime.backends import tflm, tflm_arena


def test_registered_like_its_siblings() -> None:
    info = BACKENDS["tflm"]
    assert (info.format, info.module, info.import_name, info.extra) == (
        "tflite",
        "tflm",
        "tflite_micro",
        "tflm",
    )
    assert "tflm" in available_backends()


def test_kernel_set_comes_from_the_library() -> None:
    kernels = tflm.kernel_set()
    # The digits CNN's operators, and ones every TFLite Micro build has.
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE", "DEPTHWISE_CONV_2D"} <= kernels
    # Custom signal kernels are not builtins; GELU has no TFLite Micro kernel.
    assert "FRAMER" not in kernels and "GELU" not in kernels
    assert kernels <= set(tflm.builtin_names().values())


@pytest.mark.parametrize("variant", ["int8", "int8_floatio", "fp32"])
def test_outputs_match_litert(artifacts: Path, digits: dict, variant: str) -> None:
    x = digits["x"][:40]
    with load(artifacts / f"{variant}.tflite", backend="tflm") as micro:
        assert micro.backend == "tflm"
        assert micro.inputs[0].shape == (1, 8, 8, 1)  # fixed: the Engine feeds chunks
        got = micro.predict(x)
    with load(artifacts / f"{variant}.tflite", backend="litert") as ref:
        want = ref.predict(x)
    assert got.shape == want.shape == (40, 10)
    spec = ref.outputs[0]
    step = spec.quantization[0] if spec.quantization else 1e-5
    assert np.mean(np.abs(got - want) <= step + 1e-7) >= 0.99


def test_two_inputs_two_outputs_by_name(artifacts: Path) -> None:
    with load(artifacts / "multi.tflite", backend="litert") as ref:
        feed = {s.name: np.full((3, *s.shape[1:]), 0.5, s.np_dtype) for s in ref.inputs}
        want = ref.predict(feed)
    with load(artifacts / "multi.tflite", backend="tflm") as micro:
        assert [s.name for s in micro.inputs] == list(feed)
        got = micro.predict(feed)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=1e-5)


def test_arena_in_use_is_the_smallest_that_allocates(artifacts: Path) -> None:
    data = (artifacts / "int8.tflite").read_bytes()
    arena = tflm_arena.smallest_arena(data)
    with load(artifacts / "int8.tflite", backend="tflm") as engine:
        assert engine._session.arena_bytes == arena
        assert engine._session.host_simulated
    with tflm_arena.ArenaProbe(data) as probe:  # a child: too small an arena may crash TFLM
        assert probe.fits(arena)
        assert not probe.fits(arena - tflm_arena.ARENA_STEP)
        assert not probe.fits(arena - 1024)


def test_an_arena_that_crashes_the_interpreter_counts_as_too_small(artifacts: Path) -> None:
    # Measured: TFLite Micro's host build dies with SIGSEGV allocating this model in 2000 bytes.
    data = (artifacts / "multi.tflite").read_bytes()
    with tflm_arena.ArenaProbe(data) as probe:
        assert not probe.fits(2000)
        assert probe.fits(64 * 1024)  # the child was restarted
    assert 2000 < tflm_arena.smallest_arena(data) <= 64 * 1024


def test_a_probe_that_dies_silently_says_how(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Measured: TFLite Micro aborts allocating the zoo's int8 MobileNetV2 at every arena size,
    # printing nothing. The probe's child program is made to do the same here.
    monkeypatch.setattr(tflm_arena, "_PROBE", "import os, sys\nsys.stdin.readline()\nos.abort()\n")
    with tflm_arena.ArenaProbe((artifacts / "int8.tflite").read_bytes()) as probe:
        assert not probe.fits(64 * 1024)
        assert probe.report() == (
            "the interpreter died by SIGABRT while allocating, without naming an operator"
        )


def test_dynamic_range_model_is_refused_by_name(artifacts: Path) -> None:
    with pytest.raises(BackendError) as err:
        load(artifacts / "dynamic.tflite", backend="tflm", verify=False)
    text = str(err.value)
    assert "dynamic-range (hybrid) model" in text and "FULLY_CONNECTED" in text
    assert "not supported on TFLite Micro" in text and "tflm-int8" in text


def test_a_failed_run_names_the_operator(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.int32)])
    def clamp(x):  # type: ignore[no-untyped-def]
        return tf.where(x > 0, x, tf.zeros_like(x))  # SELECT_V2 on int32: no TFLM kernel type

    converter = tf.lite.TFLiteConverter.from_concrete_functions([clamp.get_concrete_function()])
    path = tmp_path / "select.tflite"
    path.write_bytes(converter.convert())
    with (
        load(path, backend="tflm", verify=False) as engine,
        pytest.raises(
            BackendError,
            match=r"tflm failed to run the model: Interpreter invocation failed. TFLite Micro "
            r"reports: .*Node SELECT_V2 \(number \d+\) failed to invoke",
        ),
    ):
        engine.predict(np.array([[1, -2, 3, -4]], np.int32))


def test_options_it_cannot_honour_are_refused(artifacts: Path) -> None:
    path = artifacts / "int8.tflite"
    with pytest.raises(ConfigError, match=r"one thread\. Got: threads=2"):
        load(path, backend="tflm", threads=2, verify=False)
    with pytest.raises(ConfigError, match=r"only delegate_options=.'arena_size'"):
        load(path, backend="tflm", delegate_options={"arena": 1}, verify=False)
    with pytest.raises(BackendError, match=r"could not allocate .* in a 1024-byte tensor arena"):
        load(path, backend="tflm", delegate_options={"arena_size": 1024}, verify=False)
    with load(path, backend="tflm", delegate_options={"arena_size": 65536}, verify=False) as e:
        assert e._session.arena_bytes == 65536


def test_a_library_without_kernel_symbols_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    tflm.kernel_set.cache_clear()
    monkeypatch.setattr(tflm, "_REGISTER", re.compile(rb"NoSuchSymbol_([A-Z]+)v"))
    try:
        with pytest.raises(BackendError, match=r"Found no TFLite Micro kernels in _runtime"):
            tflm.kernel_set()
    finally:
        monkeypatch.undo()
        tflm.kernel_set.cache_clear()
    assert "CONV_2D" in tflm.kernel_set()
