"""Verification paid once: verdicts cached by content, backend version and Python."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import BackendError, ModelLoadError
from edgeship.runtime import load, verdicts
from edgeship.runtime.backends import backend_version

CRASHER = Path(__file__).parent / "data" / "crash_segv.tflite"


def _verdict_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("verified/*/*.json"))


def test_a_file_verified_once_loads_without_the_child(
    artifacts: Path, tmp_path: Path, counted, verdict_cache: Path, digits
):
    shutil.copy(artifacts / "int8.tflite", tmp_path / "m.tflite")
    with load(tmp_path / "m.tflite") as engine:
        first = engine.predict(digits["x"][:4])
    assert counted == [tmp_path / "m.tflite"]
    (verdict,) = _verdict_files(verdict_cache)
    doc = json.loads(verdict.read_text())
    assert doc["schema"] == "edgeship.verdict/2" and doc["ok"] is True
    assert doc["backend"] == "litert" and doc["version"] == backend_version("litert")
    assert doc["checks"] == verdicts.checks_version()
    assert doc["sha256"] == verdicts.key_for((tmp_path / "m.tflite").read_bytes(), "tflite",
                                             "litert", doc["version"]).sha256  # fmt: skip
    for _ in range(2):
        with load(tmp_path / "m.tflite") as engine:
            np.testing.assert_array_equal(engine.predict(digits["x"][:4]), first)
    assert len(counted) == 1  # later loads: no child
    with load(tmp_path / "m.tflite", verify=True):  # True still always validates
        pass
    assert len(counted) == 2


def test_changed_bytes_are_validated_again(artifacts: Path, tmp_path: Path, counted):
    target = tmp_path / "m.tflite"
    shutil.copy(artifacts / "fp32.tflite", target)
    load(target).close()
    shutil.copy(artifacts / "int8.tflite", target)  # same name, other content
    load(target).close()
    assert len(counted) == 2
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "copy.tflite")  # same content, new name
    load(tmp_path / "copy.tflite").close()
    load(target).close()
    assert len(counted) == 2


def test_key_covers_content_backend_version_and_python(artifacts: Path, verdict_cache: Path):
    data = (artifacts / "fp32.tflite").read_bytes()
    key = verdicts.key_for(data, "tflite", "litert", "2.3.0")
    assert key is not None and not verdicts.is_verified(key)
    assert verdicts.record_verified(key) is not None and verdicts.is_verified(key)
    others = [
        verdicts.key_for(data + b"\0", "tflite", "litert", "2.3.0"),
        verdicts.key_for(data, "tflite", "tflite-runtime", "2.3.0"),
        verdicts.key_for(data, "tflite", "litert", "2.3.1"),
        verdicts.VerdictKey(key.sha256, key.backend, key.version, "cpython-3.12.0-linux"),
        key._replace(checks="edgeship-0.0.9/checks-0"),
    ]
    assert not any(verdicts.is_verified(k) for k in others if k is not None)


def test_a_stored_verdict_must_say_ok_and_match_its_key(verdict_cache: Path):
    key = verdicts.VerdictKey("ab" * 32, "litert", "2.3.0", verdicts.python_build())
    path = verdicts.record_verified(key)
    assert path is not None
    doc = json.loads(path.read_text())
    for bad in ({**doc, "ok": False}, {**doc, "sha256": "cd" * 32}, {**doc, "ok": "yes"}, [doc]):
        path.write_text(json.dumps(bad))
        assert not verdicts.is_verified(key)
    path.write_text(json.dumps(doc)[:-5])  # half a file
    assert not verdicts.is_verified(key)
    path.write_text(json.dumps(doc))
    assert verdicts.is_verified(key)
    path.chmod(0o666)  # others could have written it
    assert not verdicts.is_verified(key)


def test_a_crasher_is_never_cached(tmp_path: Path, counted, verdict_cache: Path):
    shutil.copy(CRASHER, tmp_path / "crash.tflite")
    for _ in range(2):  # it crashes the child, or makes it fail a native check: never ok
        with pytest.raises((ModelLoadError, BackendError)):
            load(tmp_path / "crash.tflite")
    assert len(counted) == 2  # validated in a child both times
    assert _verdict_files(verdict_cache) == []


def test_onnx_with_external_data_is_validated_every_time(artifacts: Path, counted):
    for _ in range(2):
        load(artifacts / "external" / "ext.onnx").close()
    assert len(counted) == 2  # the verdict could not cover the weights file beside it


def test_unwritable_cache_still_loads(
    artifacts: Path, tmp_path: Path, counted, monkeypatch: pytest.MonkeyPatch
):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("EDGESHIP_CACHE_DIR", str(blocker))
    for _ in range(2):
        load(artifacts / "fp32.onnx").close()
    assert len(counted) == 2


def test_cache_folder_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("EDGESHIP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert verdicts.cache_dir() == tmp_path / "xdg" / "edgeship"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert verdicts.cache_dir() == tmp_path / "home" / ".cache" / "edgeship"
    monkeypatch.setenv("EDGESHIP_CACHE_DIR", str(tmp_path / "own"))
    assert verdicts.cache_dir() == tmp_path / "own"


RACER = """
import sys
from edgeship.runtime import load, verdicts
with load(sys.argv[1]) as engine:
    engine.predict(__import__("numpy").zeros((1, 8, 8, 1), "float32"))
key = verdicts.VerdictKey("ef" * 32, "litert", "2.3.0", verdicts.python_build())
for i in range(300):  # two writers replace the same verdict; readers never see half of one
    assert verdicts.record_verified(key, note=sys.argv[2] * (i % 50)) is not None
    assert verdicts.is_verified(key)
"""


def test_two_processes_racing_on_one_cache(
    artifacts: Path, tmp_path: Path, counted, verdict_cache: Path
):
    shutil.copy(artifacts / "fp32.tflite", tmp_path / "m.tflite")
    env = dict(os.environ, EDGESHIP_CACHE_DIR=str(verdict_cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "m.tflite"), tag],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in "ab"
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert len(_verdict_files(verdict_cache)) == 2  # the model's and the hammered one
    assert list(verdict_cache.glob("verified/*/.*")) == []  # no temporary file left
    with load(tmp_path / "m.tflite"):
        pass
    assert counted == []  # the racers' verdict is used here


def test_a_verdict_of_older_checks_is_not_trusted(tmp_path: Path, counted, verdict_cache: Path):
    """A later edgeship that checks more checks files that an earlier one let pass."""
    bad = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 200  # refused by today's structure check
    (tmp_path / "bad.tflite").write_bytes(bad)
    today = verdicts.key_for(bad, "tflite", "litert", backend_version("litert"))
    assert today is not None and today.checks == verdicts.checks_version()
    assert verdicts.record_verified(today._replace(checks="edgeship-0.0.1/checks-0"))
    with pytest.raises(ModelLoadError, match=r"could not be read as a TFLite flatbuffer"):
        load(tmp_path / "bad.tflite")
    assert counted == []  # refused by the structure check, before any child


def _other_provider() -> str:
    """An execution provider other than the CPU's, available here if one is."""
    import onnxruntime as ort

    others = [p for p in ort.get_available_providers() if p != "CPUExecutionProvider"]
    return others[0] if others else "CUDAExecutionProvider"


def _load_and_close(path: Path, **options) -> None:
    """Load and close; a provider or delegate missing here is refused only after the check
    in the child, which is what these tests count."""
    with contextlib.suppress(BackendError):
        load(path, **options).close()


def test_a_delegate_or_another_provider_neither_reads_nor_records_a_verdict(
    artifacts: Path, tmp_path: Path, counted, verdict_cache: Path
):
    onnx, tfl = tmp_path / "m.onnx", tmp_path / "m.tflite"
    shutil.copy(artifacts / "fp32.onnx", onnx)
    shutil.copy(artifacts / "fp32.tflite", tfl)
    other = _other_provider()
    _load_and_close(onnx, providers=[other, "cpu"])
    assert len(counted) == 1 and _verdict_files(verdict_cache) == []  # not recorded
    load(onnx, providers=[("CPUExecutionProvider", {})]).close()  # CPU only: recorded
    assert len(counted) == 2 and len(_verdict_files(verdict_cache)) == 1
    load(onnx, providers="cpu").close()
    assert len(counted) == 2  # read
    _load_and_close(onnx, providers=[other, "cpu"])
    assert len(counted) == 3  # not read

    missing = str(tmp_path / "libno_such_delegate.so")
    with pytest.raises(BackendError, match="delegate"):
        load(tfl, delegate=missing)
    assert len(counted) == 4 and len(_verdict_files(verdict_cache)) == 1  # not recorded
    load(tfl).close()
    assert len(counted) == 5 and len(_verdict_files(verdict_cache)) == 2
    with pytest.raises(BackendError, match="delegate"):
        load(tfl, delegate=missing)
    assert len(counted) == 6  # not read


def test_which_provider_lists_are_the_cpu_only():
    from edgeship.runtime.backends.onnxruntime import cpu_only

    for cpu in (None, (), "cpu", ["CPUExecutionProvider"], ("cpu", {"arena": "1"}), [("CPU", {})]):
        assert cpu_only(cpu), cpu
    for other in (["cuda"], ["azure", "cpu"], [("cpu", {}), "openvino"], [1], [()]):
        assert not cpu_only(other), other
