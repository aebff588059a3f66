"""The keras.applications sweep's fast subset: two families, float variants only."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _sweep() -> object:
    spec = importlib.util.spec_from_file_location("apps_sweep", ROOT / "benchmarks/apps_sweep.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["apps_sweep"] = module
    spec.loader.exec_module(module)
    return module


def test_two_families_convert_with_fp32_parity(tmp_path: Path) -> None:
    sweep = _sweep()
    out = tmp_path / "apps.json"
    argv = ["--family", "MobileNet,MobileNetV3Small", "--variants", "tflite-fp32,onnx-fp32"]
    code = sweep.main([*argv, "--no-readme", "--json", str(out)])  # type: ignore[attr-defined]
    result = json.loads(out.read_text())
    assert result["summary"]["cells"] == 4
    assert result["summary"]["ok"] == 4, result["summary"]["failures"]
    assert code == 0
    assert result["members"] == {"mobilenet": "MobileNet", "mobilenet_v3": "MobileNetV3Small"}
    for records in result["families"].values():
        for record in records:
            assert record["max_abs_error"] < 1e-4, record


def test_every_family_has_one_member_and_unknown_ones_are_refused(capsys) -> None:
    import keras
    import pytest

    sweep = _sweep()
    modules = {"vgg16", "vgg19", "resnet50", "imagenet_utils"}  # one family each, or helpers
    families = {
        n for n in dir(keras.applications) if n.islower() and not n.startswith("_")
    } - modules
    assert families | {"vgg"} == set(sweep.FAMILIES) | {"vgg"}  # type: ignore[attr-defined]
    with pytest.raises(SystemExit):
        sweep.main(["--family", "ResNet9000"])  # type: ignore[attr-defined]
    assert "unknown member(s) ['ResNet9000']" in capsys.readouterr().err
