"""The in-process structural check: broken containers refused without a child process."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from edgeship.errors import ModelLoadError
from edgeship.runtime import load
from edgeship.runtime.structure import check_structure
from runtime.mutate import mutate

CRASHER = Path(__file__).parent / "data" / "crash_segv.tflite"


def _fmt(path: Path) -> str:
    return "tflite" if path.suffix == ".tflite" else "onnx"


def _models(artifacts: Path) -> list[Path]:
    found = sorted(p for p in artifacts.rglob("*") if p.suffix in (".tflite", ".onnx"))
    assert len(found) >= 15
    return found


def test_every_real_model_passes(artifacts: Path):
    for path in [*_models(artifacts), CRASHER]:  # the crasher is well formed: a child's job
        check_structure(path, _fmt(path), path.read_bytes())


@pytest.mark.parametrize("name", ["fp32.tflite", "int8.tflite", "fp32.onnx", "qdq.onnx"])
def test_truncated_files_are_refused_here(artifacts: Path, tmp_path: Path, counted, name: str):
    data = (artifacts / name).read_bytes()
    kind = "TFLite flatbuffer" if name.endswith(".tflite") else "ONNX protobuf"
    for cut in (12, len(data) // 3, len(data) // 2, len(data) - 7):
        path = tmp_path / f"cut{cut}_{name}"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelLoadError, match=f"{path} could not be read as a {kind}: .*"):
            load(path)
    assert counted == []  # no child process was needed


def test_messages_name_the_fault(tmp_path: Path):
    path = tmp_path / "m.tflite"
    with pytest.raises(ModelLoadError, match=r"outside the 12-byte file.*truncated or corrupt"):
        check_structure(path, "tflite", b"\xff\x00\x00\x00TFL3\x00\x00\x00\x00")
    with pytest.raises(ModelLoadError, match="the model has no graph"):
        check_structure(tmp_path / "m.onnx", "onnx", b"\x08\x07")
    with pytest.raises(ModelLoadError, match="runs past its end"):
        check_structure(tmp_path / "m.onnx", "onnx", b"\x08\x07\x3a\x40\x0a")


def test_mutants_pass_or_fail_typed(artifacts: Path):
    """Thousands of mutated files: the check never raises anything but ModelLoadError."""
    models = _models(artifacts)
    originals = {p: p.read_bytes() for p in models}
    rng = random.Random(20261127)
    tally: Counter[str] = Counter()
    for _ in range(3000):
        path = rng.choice(models)
        _, data = mutate(originals[path], rng)
        try:
            check_structure(path, _fmt(path), data)
            tally["passed"] += 1
        except ModelLoadError:
            tally["refused"] += 1
    assert tally["refused"] > 1000 and tally["passed"] > 300, tally  # the check bites, not all
