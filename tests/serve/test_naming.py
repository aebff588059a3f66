"""Serving names: unique defaults for several artifacts of one card, and --name NAME=PATH."""

from __future__ import annotations

import shutil
import signal

import pytest

from edgeship.cli.main import main
from edgeship.errors import ConfigError
from edgeship.serve.naming import assign_names, parse_name, variant_of
from edgeship.serve.registry import load_registry

from .cli_process import start_serve_cli, stop


def test_artifacts_of_one_card_get_card_variant_names(artifacts, loader):
    files = [artifacts.fp32_tflite, artifacts.int8_tflite, artifacts.fp32_onnx]
    registry = load_registry(files, loader=loader)
    try:
        assert registry.names == [
            "tiny-digits-onnx-fp32",
            "tiny-digits-tflite-fp32",
            "tiny-digits-tflite-int8",
        ]
    finally:
        registry.close()
    # One artifact keeps its card's name; a directory keeps its variant names.
    assert [n for n, _ in assign_names([artifacts.int8_tflite], None)] == ["tiny-digits"]
    assert variant_of(artifacts.int8_tflite) == "tflite-int8"


def test_variant_comes_from_the_manifest_else_the_stem(artifacts, tmp_path):
    for name in ("a.tflite", "b.tflite", "edgeship.json"):
        src = artifacts.convert_dir / ("tflite-fp32.tflite" if name != "edgeship.json" else name)
        shutil.copy(src, tmp_path / name)
    entries = assign_names([tmp_path / "a.tflite", tmp_path / "b.tflite"], None)
    assert [n for n, _ in entries] == ["tiny-digits-a", "tiny-digits-b"]


def test_name_renames_a_served_artifact_or_adds_one(artifacts, tmp_path, loader):
    extra = tmp_path / "other.onnx"
    shutil.copy(artifacts.fp32_onnx, extra)
    registry = load_registry(
        [artifacts.convert_dir],
        names={"digits-int8": artifacts.int8_tflite, "digits-extra": str(extra)},
        loader=loader,
    )
    try:
        assert registry.names == ["digits-extra", "digits-int8", "onnx-fp32", "tflite-fp32"]
        assert registry.get("digits-int8").path == artifacts.int8_tflite
        assert registry.get("digits-extra").path == extra
    finally:
        registry.close()
    only = assign_names([], {"solo": artifacts.fp32_onnx})
    assert only == [("solo", artifacts.fp32_onnx)]


def test_bad_names_are_clear_errors(artifacts, tmp_path):
    with pytest.raises(ConfigError, match="expects NAME=PATH"):
        parse_name("just-a-path.tflite")
    with pytest.raises(ConfigError, match="is not URL-safe"):
        parse_name("a b=x.tflite")
    with pytest.raises(ConfigError, match=r"artifact file\. Got a directory"):
        assign_names([], {"d": artifacts.convert_dir})
    with pytest.raises(ConfigError, match="Got no such file"):
        assign_names([], {"d": tmp_path / "missing.tflite"})
    with pytest.raises(ConfigError, match=r"served as 'tflite-fp32'.*--name"):
        assign_names([artifacts.convert_dir], {"tflite-fp32": artifacts.fp32_onnx})


def test_serve_cli_checks_names_before_loading(capsys):
    assert main(["serve"]) == 1
    assert "Expected an artifact file or directory to serve" in capsys.readouterr().err
    assert main(["serve", "--name", "x.tflite"]) == 1
    assert "--name expects NAME=PATH" in capsys.readouterr().err
    assert main(["serve", "--name", "a=x.tflite", "--name", "a=y.tflite"]) == 1
    assert "--name a is given twice" in capsys.readouterr().err


def test_serve_cli_serves_named_artifacts(artifacts):
    proc, banner = start_serve_cli(
        "--name", f"digits={artifacts.int8_tflite}", str(artifacts.fp32_tflite),
        str(artifacts.fp32_onnx), "--port", "0", "--grpc-port", "0",
    )  # fmt: skip
    try:
        names = sorted(m["name"] for m in banner["models"])
        assert names == ["digits", "tiny-digits-onnx-fp32", "tiny-digits-tflite-fp32"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)
