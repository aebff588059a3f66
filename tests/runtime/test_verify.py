"""Manifest trust, integrity errors and validation in a child process."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from edgeship.errors import BackendError, IntegrityError, ModelLoadError
from edgeship.runtime import load
from edgeship.runtime import verify as verify_mod

CRASHER = Path(__file__).parent / "data" / "crash_segv.tflite"


def _manifest(directory: Path, name: str, sha: str) -> None:
    doc = {
        "schema": "edgeship.manifest/1",
        "variants": [{"name": "v", "file": name, "sha256": sha, "status": "ok"}],
    }
    (directory / "manifest.json").write_text(json.dumps(doc))


def test_trusted_manifest_skips_child_validation(artifacts: Path, tmp_path: Path, counted, digits):
    shutil.copy(artifacts / "int8.tflite", tmp_path / "m.tflite")
    _manifest(
        tmp_path, "m.tflite", hashlib.sha256((tmp_path / "m.tflite").read_bytes()).hexdigest()
    )
    with load(tmp_path / "m.tflite") as engine:
        assert engine.predict(digits["x"][:1]).shape == (1, 10)
    assert counted == []
    with load(tmp_path / "m.tflite", verify=True):
        pass
    assert counted == [tmp_path / "m.tflite"]


def test_untrusted_file_is_validated_in_a_child(artifacts: Path, tmp_path: Path, counted):
    shutil.copy(artifacts / "fp32.onnx", tmp_path / "m.onnx")
    with load(tmp_path / "m.onnx") as engine:
        assert engine.backend == "onnxruntime"
    assert counted == [tmp_path / "m.onnx"]
    with load(tmp_path / "m.onnx", verify=False):
        pass
    assert len(counted) == 1


def test_sha_mismatch_is_an_integrity_error(artifacts: Path, tmp_path: Path):
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "m.tflite")
    _manifest(tmp_path, "m.tflite", "0" * 64)
    with pytest.raises(
        IntegrityError, match=r"does not match its manifest .*expected sha256 0{64}"
    ):
        load(tmp_path / "m.tflite")


def test_manifest_for_other_files_does_not_vouch(artifacts: Path, tmp_path: Path, counted):
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "m.tflite")
    _manifest(tmp_path, "other.tflite", "0" * 64)
    with load(tmp_path / "m.tflite"):
        pass
    assert counted == [tmp_path / "m.tflite"]


def test_child_reports_the_typed_error(tmp_path: Path):
    (tmp_path / "bad.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 200)
    with pytest.raises(ModelLoadError, match="could not read"):
        verify_mod.validate_in_subprocess(tmp_path / "bad.tflite", "litert")


def test_broken_structure_is_refused_without_a_child(tmp_path: Path, counted):
    (tmp_path / "bad.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 200)
    with pytest.raises(ModelLoadError, match=r"could not be read as a TFLite flatbuffer"):
        load(tmp_path / "bad.tflite", verify=True)
    assert counted == []


def test_crashing_file_never_takes_the_caller_down(tmp_path: Path):
    """A file that crashes the interpreter is a ModelLoadError with verify, never a dead caller.

    The file reads uninitialised memory in LiteRT 2.3: depending on the process (its
    environment, its arguments) it segfaults, fails a native allocation or fails a native
    check, so any of these typed outcomes is correct here. The crash itself is forced in
    test_child_killed_by_a_signal_is_a_model_load_error.
    """
    shutil.copy(CRASHER, tmp_path / "crash.tflite")
    with pytest.raises(
        (ModelLoadError, BackendError), match=r"crashed the litert interpreter|corrupt|cannot run"
    ):
        load(tmp_path / "crash.tflite")  # default: untrusted, so validated in a child


def test_child_killed_by_a_signal_is_a_model_load_error(
    artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The child dies with SIGSEGV (injected at its start-up): the caller gets a clear error."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(hook))
    with pytest.raises(ModelLoadError, match=r"crashed the litert interpreter \(SIGSEGV\)"):
        verify_mod.validate_in_subprocess(artifacts / "fp32.tflite", backend="litert")


def test_sniff_format_table(tmp_path: Path):
    tfl = b"\x1c\x00\x00\x00TFL3"
    assert verify_mod.sniff_format(tmp_path / "a.tflite", tfl) == "tflite"
    assert verify_mod.sniff_format(tmp_path / "a.lite", tfl) == "tflite"
    assert verify_mod.sniff_format(tmp_path / "a.onnx", b"\x08\x07") == "onnx"
    assert verify_mod.sniff_format(tmp_path / "a", b"\x08\x07") == "onnx"
    assert verify_mod.sniff_format(tmp_path / "a.model", tfl) == "tflite"


def test_hanging_child_is_killed_and_refused(
    artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The child hangs (injected at its start-up): the file is refused after the timeout."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", str(hook))
    with pytest.raises(ModelLoadError, match=r"took longer than 1 s in a child process"):
        verify_mod.validate_in_subprocess(artifacts / "fp32.tflite", "litert", timeout=1.0)
