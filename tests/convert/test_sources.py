"""Model sources besides .keras: a SavedModel directory (its own signature and names)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .conftest import convert_keep


def test_saved_model_directory(arch_dirs: Callable[[str], Path], tmp_path: Path) -> None:
    import keras

    from edgeship.convert.source import export_saved_model, load_source

    folder = arch_dirs("multi_io")
    source = load_source(folder / "model.keras", None, tmp_path)
    saved = export_saved_model(keras.models.load_model(folder / "model.keras"), source.inputs,
                               tmp_path / "saved")  # fmt: skip
    for name in ("calibration.npz", "eval.npz"):
        shutil.copy(folder / name, saved / name)
    manifest = convert_keep(saved, tmp_path / "out", variants=("tflite-fp32", "onnx-fp32"),
                            check_runtimes=False)  # fmt: skip
    assert manifest["source"]["kind"] == "saved_model"
    for record in manifest["variants"]:
        assert record["status"] == "ok", record["errors"]
        assert record["parity"]["max_abs_error"] < 1e-4
        assert [o["name"] for o in record["parity"]["outputs"]] == ["output_0", "output_1"]
