"""The microcontroller target (tflm-int8) on the digits CNN: operators, arena, flash, parity
against LiteRT in quantization steps, the C++ bundle compiled by the system compiler, budgets."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeship.convert import read_manifest
from edgeship.convert.boards import BOARDS, Budget
from edgeship.convert.mcu import build_bundle
from edgeship.convert.mcu_bundle import BUNDLE_FILES, bundle_dir, resolver_method
from edgeship.convert.variants import ConvertOptions
from edgeship.errors import BoardBudgetError, ConfigError, McuTargetError, UnsupportedOperatorError
from edgeship.fileio import sha256_file

from .conftest import convert_keep

pytest.importorskip("tflite_micro", reason="tflite-micro is not installed (edgeship[tflm])")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is the reference interpreter")

from edgeship.runtime.backends.tflm_arena import ArenaProbe

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

#: The real ``tflite::MicroMutableOpResolver`` methods for the digits CNN's operators
#: (micro_mutable_op_resolver.h), written by hand: a generated name that differs fails to
#: compile against this stub.
_STUB = """
#pragma once
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
namespace tflite {
template <unsigned int tOpCount>
class MicroMutableOpResolver {
 public:
  TfLiteStatus AddConv2D() { return kTfLiteOk; }
  TfLiteStatus AddMaxPool2D() { return kTfLiteOk; }
  TfLiteStatus AddReshape() { return kTfLiteOk; }
  TfLiteStatus AddFullyConnected() { return kTfLiteOk; }
  TfLiteStatus AddSoftmax() { return kTfLiteOk; }
};
}  // namespace tflite
"""
_GXX = shutil.which("g++")


@pytest.fixture(scope="session")
def digits_mcu(digits_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits CNN as tflm-int8 (Cortex-M4 budget) and tflite-dynamic."""
    out = tmp_path_factory.mktemp("digits_mcu")
    convert_keep(
        digits_model_dir / "model.keras",
        out,
        variants="tflm-int8,tflite-dynamic",
        options={"board": "cortex-m4-256k"},
    )
    return out


def _variant(out: Path, name: str) -> dict[str, Any]:
    return next(v for v in read_manifest(out)["variants"] if v["name"] == name)


def test_manifest_records_arena_flash_and_both_parities(digits_mcu: Path) -> None:
    v = _variant(digits_mcu, "tflm-int8")
    assert v["status"] == "ok", v["errors"]
    assert v["parity"]["backend"].startswith("tflm ")  # Keras parity ran in TFLite Micro
    assert v["parity"]["top1_agreement"] >= 0.95
    assert any(k.startswith("tflm ") and r == "ok" for k, r in v["runtimes"].items())
    mcu = v["mcu"]
    assert mcu["flash_bytes"] == (digits_mcu / "tflm-int8.tflite").stat().st_size
    assert 0 < mcu["arena_bytes"] < 64 * 1024 and mcu["arena_bytes"] % 16 == 0
    assert (mcu["board"], mcu["max_arena_kb"], mcu["max_flash_kb"]) == ("cortex-m4-256k", 256, 1024)
    steps = mcu["litert_parity"]
    assert steps["reference"].startswith("litert ")
    assert steps["within_1_step"] >= 0.99 and steps["outputs_compared"] > 1000
    # built for batch 1: the dynamic batch's shape arithmetic (SHAPE, STRIDED_SLICE, PACK) is
    # folded into a constant RESHAPE
    assert mcu["ops"] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert v["params"]["batch"] == 1
    folder = digits_mcu / mcu["bundle"]["dir"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(BUNDLE_FILES)
    for name, digest in mcu["bundle"]["files"].items():
        assert sha256_file(folder / name) == digest


def test_tflm_agrees_with_litert_within_one_step(digits_mcu: Path, digits_samples: Any) -> None:
    """Both raw interpreters on the same int8 file and the same int8 inputs."""
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime

    path = digits_mcu / "tflm-int8.tflite"
    arena = _variant(digits_mcu, "tflm-int8")["mcu"]["arena_bytes"]
    micro = runtime.Interpreter.from_file(str(path), arena_size=arena)
    lite = Interpreter(model_path=str(path))
    lite.allocate_tensors()
    inp, out = lite.get_input_details()[0], lite.get_output_details()[0]
    scale, zero = inp["quantization"]
    x = np.asarray(digits_samples.inputs[next(iter(digits_samples.inputs))], np.float32)
    q = np.clip(np.rint(x / scale + zero), -128, 127).astype(np.int8)
    diffs = []
    for sample in q:
        lite.set_tensor(inp["index"], sample[None])
        lite.invoke()
        micro.set_input(sample[None], 0)
        micro.invoke()
        a = micro.get_output(0).astype(np.int32)
        b = lite.get_tensor(out["index"]).astype(np.int32)
        diffs.append(np.abs(a - b).ravel())
    steps = np.concatenate(diffs)
    assert steps.size == len(q) * 10
    assert np.mean(steps <= 1) >= 0.99


def test_recorded_arena_is_the_smallest_that_allocates(digits_mcu: Path) -> None:
    arena = _variant(digits_mcu, "tflm-int8")["mcu"]["arena_bytes"]
    data = (digits_mcu / "tflm-int8.tflite").read_bytes()
    with ArenaProbe(data) as probe:
        assert probe.fits(arena)
        assert not probe.fits(arena - 1024)
        assert not probe.fits(arena - 16)
    settings = (bundle_dir(digits_mcu / "tflm-int8.tflite") / "model_settings.h").read_text()
    assert f"constexpr int kTensorArenaSize = {arena};" in settings


@pytest.mark.skipif(_GXX is None, reason="no system g++")
def test_model_data_compiles_and_holds_the_tflite_bytes(digits_mcu: Path, tmp_path: Path) -> None:
    bundle = bundle_dir(digits_mcu / "tflm-int8.tflite")
    main = tmp_path / "dump.cc"
    main.write_text(
        '#include <cstdio>\n#include <cstdint>\n#include "model_data.h"\n'
        'static_assert(alignof(decltype(g_model_data[0])) >= 1, "array");\n'
        "int main(int argc, char** argv) {\n"
        "  if (reinterpret_cast<std::uintptr_t>(g_model_data) % 16 != 0) return 2;\n"
        '  FILE* f = std::fopen(argv[1], "wb");\n'
        "  std::fwrite(g_model_data, 1, g_model_data_len, f);\n"
        "  return std::fclose(f);\n}\n"
    )
    exe = tmp_path / "dump"
    subprocess.run(
        [_GXX, "-std=c++17", "-Wall", "-Werror", "-I", str(bundle), str(bundle / "model_data.cc"),
         str(main), "-o", str(exe)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([str(exe), str(tmp_path / "bytes.tflite")], check=True)
    assert (tmp_path / "bytes.tflite").read_bytes() == (
        digits_mcu / "tflm-int8.tflite"
    ).read_bytes()


@pytest.mark.skipif(_GXX is None, reason="no system g++")
def test_resolver_header_registers_exactly_the_ops(digits_mcu: Path, tmp_path: Path) -> None:
    mcu = _variant(digits_mcu, "tflm-int8")["mcu"]
    bundle = digits_mcu / mcu["bundle"]["dir"]
    stub = tmp_path / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
    stub.parent.mkdir(parents=True)
    stub.write_text(_STUB)
    check = tmp_path / "check.cc"
    check.write_text(
        '#include "model_ops.h"\n#include "model_settings.h"\n'
        f'static_assert(kModelOpCount == {len(mcu["ops"])}, "op count");\n'
        f'static_assert(kTensorArenaSize == {mcu["arena_bytes"]}, "arena");\n'
        f'static_assert(kModelFlashSize == {mcu["flash_bytes"]}, "flash");\n'
        "int main() { ModelOpResolver r; return RegisterModelOps(r) == kTfLiteOk ? 0 : 1; }\n"
    )
    subprocess.run(
        [_GXX, "-std=c++17", "-Wall", "-Werror", "-I", str(tmp_path), "-I", str(bundle),
         str(check), "-o", str(tmp_path / "check")],
        check=True, capture_output=True,
    )  # fmt: skip
    header = (bundle / "model_ops.h").read_text()
    assert re.findall(r"resolver\.(Add\w+)\(\)", header) == [resolver_method(o) for o in mcu["ops"]]


def test_resolver_method_names() -> None:
    cases = {
        "CONV_2D": "AddConv2D",
        "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
        "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
        "PADV2": "AddPadV2",
        "L2_POOL_2D": "AddL2Pool2D",
        "RELU6": "AddRelu6",
        "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
        "CUMSUM": "AddCumSum",
        "BATCH_MATMUL": "AddBatchMatMul",
        "SELECT_V2": "AddSelectV2",
    }
    assert {op: resolver_method(op) for op in cases} == cases


def test_dynamic_range_model_is_refused_and_nothing_written(digits_mcu: Path) -> None:
    path = digits_mcu / "tflite-dynamic.tflite"
    with pytest.raises(McuTargetError) as err:
        build_bundle(path)
    text = str(err.value)
    assert "tflite-dynamic.tflite is a dynamic-range (hybrid) model" in text
    assert "CONV_2D" in text and "TFLite Micro does not run hybrid models" in text
    assert "Expected a full-integer model: build the tflm-int8 variant" in text
    assert not bundle_dir(path).exists()


def test_budget_too_small_is_a_typed_error_and_nothing_written(
    digits_mcu: Path, tmp_path: Path
) -> None:
    mcu = _variant(digits_mcu, "tflm-int8")["mcu"]
    arena, flash = mcu["arena_bytes"], mcu["flash_bytes"]
    path = tmp_path / "tflm-int8.tflite"
    shutil.copy(digits_mcu / "tflm-int8.tflite", path)
    with pytest.raises(BoardBudgetError) as err:
        build_bundle(path, Budget(max_arena_kb=4))
    assert (err.value.what, err.value.got, err.value.budget) == ("arena", arena, 4096)
    assert str(err.value).startswith(
        f"The model needs a {arena / 1024:.1f} KiB arena ({arena} bytes) but the arena budget "
        "is 4 KiB (--max-arena-kb 4). Expected arena <= budget."
    )
    with pytest.raises(BoardBudgetError, match=r"flash budget of board cortex-m0-32k is 50 KiB"):
        build_bundle(path, Budget.from_settings("cortex-m0-32k", None, 50))
    assert not bundle_dir(path).exists()
    # The gate is exact: the measured size fits, 16 bytes less does not.
    Budget(max_arena_kb=arena / 1024, max_flash_kb=flash / 1024).check(arena, flash)
    with pytest.raises(BoardBudgetError):
        Budget(max_arena_kb=(arena - 16) / 1024).check(arena, flash)
    with pytest.raises(BoardBudgetError):
        Budget(max_flash_kb=(flash - 1) / 1024).check(arena, flash)


def test_convert_fails_the_variant_over_budget(digits_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", "convert",
         str(digits_model_dir / "model.keras"), "--to", "tflm-int8", "--max-arena-kb", "4",
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode != 0
    assert (
        "BoardBudgetError: The model needs a" in proc.stderr and "(--max-arena-kb 4)" in proc.stderr
    )
    v = _variant(out, "tflm-int8")
    assert v["status"] == "failed" and v["mcu"]["arena_bytes"] > 4096
    assert v["mcu"]["max_arena_kb"] == 4 and "bundle" not in v["mcu"]
    assert not bundle_dir(out / "tflm-int8.tflite").exists()


def test_an_operator_tflm_lacks_is_named(arch_dirs: Callable[[str], Path], tmp_path: Path) -> None:
    source = arch_dirs("gelu_dense")
    out = tmp_path / "out"
    convert_keep(source / "model.keras", out, variants="tflm-int8")
    v = _variant(out, "tflm-int8")
    assert v["status"] == "failed"
    assert v["errors"][0].startswith(
        "UnsupportedOperatorError: tflm-int8.tflite uses operator(s) GELU that TFLite Micro "
        "has no kernel for"
    )
    assert v["parity"] is None and "arena_bytes" not in v["mcu"]
    assert not bundle_dir(out / "tflm-int8.tflite").exists()
    with pytest.raises(UnsupportedOperatorError) as err:
        build_bundle(out / "tflm-int8.tflite")
    assert err.value.operators == ["GELU"]
    assert not bundle_dir(out / "tflm-int8.tflite").exists()


def test_a_softmax_tflm_cannot_prepare_is_named(digits_model_dir: Path, tmp_path: Path) -> None:
    """Logits that barely vary give SOFTMAX an int8 input scale below what TFLite Micro's
    kernel accepts (its host interpreter aborts): refused up front, naming the operator."""
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    flat = keras.layers.Flatten()(inputs)
    tiny = keras.initializers.Constant(1e-9)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=tiny)(flat)
    model_path = tmp_path / "flat.keras"
    keras.Model(inputs, outputs).save(model_path)
    out = tmp_path / "out"
    calibration = digits_model_dir / "calibration.npz"
    convert_keep(model_path, out, variants="tflm-int8", calibration=calibration)
    v = _variant(out, "tflm-int8")
    assert v["status"] == "failed"
    assert re.match(
        r"UnsupportedOperatorError: tflm-int8\.tflite: TFLite Micro's kernels reject an "
        r"operator's parameters: SOFTMAX: its int8 input scale \S+ \(beta 1\) is below the "
        r"1\.49e-08 TFLite Micro's softmax kernel accepts",
        v["errors"][0],
    ), v["errors"]
    assert not bundle_dir(out / "tflm-int8.tflite").exists()
    with pytest.raises(UnsupportedOperatorError) as err:
        build_bundle(out / "tflm-int8.tflite")
    assert err.value.operators == ["SOFTMAX"]


def test_board_presets_and_bad_budgets() -> None:
    assert BOARDS["cortex-m4-256k"].ram_kb == 256 and BOARDS["cortex-m4-256k"].flash_kb == 1024
    budget = ConvertOptions(board="cortex-m4-256k", max_arena_kb=64).mcu_budget()
    assert (budget.max_arena_kb, budget.max_flash_kb) == (64, 1024)  # explicit over preset
    with pytest.raises(ConfigError, match=r"Unknown board 'stm32'\. Expected one of: cortex-m0"):
        ConvertOptions(board="stm32")
    with pytest.raises(ConfigError, match=r"max_flash_kb must be a positive number of KiB"):
        ConvertOptions.from_dict({"max_flash_kb": -1})
