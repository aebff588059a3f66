"""What a path serves: one artifact, a directory, a convert output's 'ok' variants."""

from __future__ import annotations

import shutil

import pytest

from edgeship.errors import ConfigError, ModelLoadError
from edgeship.serve.registry import discover, load_registry


def test_convert_dir_serves_ok_variants_only(artifacts):
    names = [name for name, _ in discover(artifacts.convert_dir)]
    assert names == ["tflite-fp32", "tflite-int8", "onnx-fp32"]  # 'tflite-dynamic' failed


def test_single_artifact_is_named_by_card_else_stem(artifacts, tmp_path):
    assert discover(artifacts.fp32_tflite)[0][0] == "tiny-digits"
    lone = tmp_path / "lone.onnx"
    shutil.copy(artifacts.fp32_onnx, lone)
    assert discover(lone) == [("lone", lone)]
    assert [n for n, _ in discover(artifacts.multi_dir / "multi.tflite")] == ["multi"]


def test_bad_paths_give_clear_errors(tmp_path, artifacts):
    with pytest.raises(ModelLoadError, match="no such file or directory"):
        discover(tmp_path / "missing.tflite")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelLoadError, match=r"expected a \.tflite or \.onnx artifact"):
        discover(tmp_path / "notes.txt")
    with pytest.raises(ModelLoadError, match=r"No \.tflite or \.onnx artifact in"):
        discover(tmp_path)
    (tmp_path / "manifest.json").write_text('{"variants": 3}')
    with pytest.raises(ModelLoadError, match="not a readable edgeship manifest"):
        discover(tmp_path)
    (tmp_path / "manifest.json").write_text('{"variants": [{"name": "a", "status": "failed"}]}')
    with pytest.raises(ModelLoadError, match="no variant with status 'ok'"):
        discover(tmp_path)


def test_duplicate_names_and_bad_workers_are_rejected(artifacts, tmp_path, loader):
    with pytest.raises(ConfigError, match="Two artifacts would be served as 'tflite-fp32'"):
        load_registry([artifacts.convert_dir, artifacts.convert_dir], loader=loader)
    with pytest.raises(ConfigError, match="workers must be an integer from 1 to 64"):
        load_registry([artifacts.fp32_tflite], workers=0, loader=loader)
    odd = tmp_path / "bad name!.tflite"
    shutil.copy(artifacts.fp32_tflite, odd)
    with pytest.raises(ConfigError, match="is not URL-safe"):
        load_registry([odd], loader=loader)


def test_corrupt_artifact_fails_at_load_not_at_request(tmp_path, loader):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\0" * 64)
    with pytest.raises(ModelLoadError):
        load_registry([bad], loader=loader)


def test_workers_build_a_pool(artifacts, loader):
    registry = load_registry([artifacts.fp32_onnx], workers=3, loader=loader)
    model = registry.get("tiny-digits")
    assert model is not None and len(model.engines) == 3
    assert model.inputs[0].shape == (-1, 8, 8, 1)
    registry.close()
    assert model.engines == []
