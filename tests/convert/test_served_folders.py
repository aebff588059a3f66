"""What ``serve`` and ``bench`` take from a folder: the variants a manifest marks ``ok``; a
folder without a manifest (what an interrupted convert used to leave) or a failed variant
only when asked for, with a warning."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from edgeship.cli.main import build_parser
from edgeship.discovery import expand_artifacts
from edgeship.errors import ModelLoadError
from edgeship.serve.discovery import DiscoveryPolicy, discover
from edgeship.serve.registry import load_registry


@pytest.fixture()
def half_written(digits_all: Path, tmp_path: Path) -> Path:
    """Artifacts of a convert that never wrote its manifest (nor its card)."""
    out = tmp_path / "half"
    out.mkdir()
    for name in ("tflite-fp32.tflite", "tflite-int8.tflite", "onnx-fp32.onnx"):
        shutil.copy(digits_all / name, out / name)
    return out


@pytest.fixture()
def one_failed(digits_all: Path, tmp_path: Path) -> Path:
    """A convert output whose manifest marks tflite-int8 'failed' (the file is still there)."""
    out = tmp_path / "one_failed"
    out.mkdir()
    for name in ("tflite-fp32.tflite", "tflite-int8.tflite", "onnx-fp32.onnx", "edgeship.json"):
        shutil.copy(digits_all / name, out / name)
    manifest = json.loads((digits_all / "manifest.json").read_text())
    manifest["variants"] = [
        v | ({"status": "failed", "errors": ["accuracy dropped"]} if v["name"] == "tflite-int8"
             else {})
        for v in manifest["variants"]
        if v["name"] in ("tflite-fp32", "tflite-int8", "onnx-fp32")
    ]  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_a_folder_without_manifest_is_refused_unless_allowed(
    half_written: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ModelLoadError, match=r"holds 3 artifact\(s\) .* but no manifest\.json"):
        discover(half_written)
    with pytest.raises(ModelLoadError, match="--allow-no-manifest"):
        expand_artifacts([str(half_written)])
    with caplog.at_level(logging.WARNING, logger="edgeship.serve"):
        names = [n for n, _ in discover(half_written, DiscoveryPolicy(allow_no_manifest=True))]
    assert names == ["onnx-fp32", "tflite-fp32", "tflite-int8"]
    assert "no manifest.json: using 3 unverified artifact(s)" in caplog.text
    allowed = expand_artifacts([str(half_written)], DiscoveryPolicy(allow_no_manifest=True))
    assert [Path(p).name for p in allowed] == ["onnx-fp32.onnx", "tflite-fp32.tflite",
                                               "tflite-int8.tflite"]  # fmt: skip
    with pytest.raises(ModelLoadError, match=r"no manifest\.json"):
        load_registry([half_written])


def test_failed_variants_are_neither_served_nor_measured_unless_asked(one_failed: Path) -> None:
    assert [n for n, _ in discover(one_failed)] == ["tflite-fp32", "onnx-fp32"]
    assert [Path(p).name for p in expand_artifacts([str(one_failed)])] == [
        "tflite-fp32.tflite",
        "onnx-fp32.onnx",
    ]
    everything = DiscoveryPolicy(include_failed=True)
    assert [n for n, _ in discover(one_failed, everything)] == list(
        ("tflite-fp32", "tflite-int8", "onnx-fp32")
    )
    for policy, names in (
        (everything, ["onnx-fp32", "tflite-fp32", "tflite-int8"]),
        (None, ["onnx-fp32", "tflite-fp32"]),
    ):
        registry = load_registry([one_failed], discovery=policy)
        try:
            assert sorted(registry.names) == names
        finally:
            registry.close()


@pytest.mark.parametrize("command", ["serve", "bench"])
def test_cli_flags(command: str, one_failed: Path) -> None:
    from edgeship.cli._discovery import discovery_policy

    parser = build_parser(command)
    args = parser.parse_args([command, str(one_failed)])
    assert discovery_policy(args) == DiscoveryPolicy()
    args = parser.parse_args([command, str(one_failed), "--include-failed", "--allow-no-manifest"])
    assert discovery_policy(args) == DiscoveryPolicy(allow_no_manifest=True, include_failed=True)


@pytest.mark.parametrize("command", ["serve", "bench"])
def test_the_cli_refuses_a_folder_without_manifest(
    command: str, half_written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeship.cli.main import main

    extra = ["--port", "0"] if command == "serve" else ["--in-process"]
    assert main([command, str(half_written), *extra]) == 1
    err = capsys.readouterr().err
    assert f"edgeship {command}: error:" in err and "but no manifest.json" in err
    assert "--allow-no-manifest" in err
