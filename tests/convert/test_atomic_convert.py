"""Whole-folder atomic convert: a finished convert replaces the folder whole; an interrupted or
killed one leaves the old folder as it was, and its staging folder is removed (now or by the
next convert). Real ``edgeship convert`` processes get real signals mid-run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeship.convert import convert, read_manifest, staging
from edgeship.convert.staging import clean_stale, staging_prefix
from edgeship.convert.variants import VARIANTS
from edgeship.fileio import sha256_file
from edgeship.serve.discovery import discover

from .hooks import inject_worker_hooks

#: ``edgeship convert`` in a fresh interpreter, with Python's own SIGINT handler even where the
#: test runner was started with SIGINT ignored (a background job).
_CLI = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from edgeship.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture()
def old_folder(digits_all: Path, tmp_path: Path) -> Path:
    """A finished convert output (every variant) with an old quant-debug CSV and a user file."""
    out = tmp_path / "artifacts"
    shutil.copytree(digits_all, out)
    (out / "tflite-int8.quant-debug.csv").write_text("layer,rmse\nconv,0.1\n")
    (out / "NOTES.txt").write_text("kept by the user\n")
    return out


def _start(model: Path, out: Path) -> subprocess.Popen[bytes]:
    args = ["convert", str(model), "--to", "tflite-fp32,onnx-fp32", "--out", str(out),
            "--force", "--skip-runtime-check", "--quiet"]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", _CLI, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the test can see its children go
    )


def _wait_for_staged_artifact(proc: subprocess.Popen[bytes], out: Path) -> Path:
    """Block until the convert has written its first artifact into its staging folder."""
    deadline = time.monotonic() + 240
    pattern = f"{staging_prefix(out)}*/tflite-fp32.tflite"
    while time.monotonic() < deadline:
        found = sorted(out.parent.glob(pattern))
        if found:
            return found[0].parent
        if proc.poll() is not None:
            pytest.fail(f"convert ended ({proc.returncode}) before staging an artifact")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no artifact appeared in a staging folder beside the output")


def _group_gone(pgid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    return False


def test_force_replaces_the_whole_folder(digits_model_dir: Path, old_folder: Path) -> None:
    """No old artifact, CSV or manifest entry survives next to the new ones; user files do."""
    convert(
        digits_model_dir / "model.keras",
        old_folder,
        variants="tflite-fp32",
        force=True,
        check_runtimes=False,
    )
    names = sorted(p.name for p in old_folder.iterdir())
    assert names == ["NOTES.txt", "edgeship.json", "manifest.json", "tflite-fp32.tflite"]
    assert [v["name"] for v in read_manifest(old_folder)["variants"]] == ["tflite-fp32"]
    assert (old_folder / "NOTES.txt").read_text() == "kept by the user\n"
    assert _beside(old_folder) == []  # no staging or old folder left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_convert_keeps_the_old_folder(
    digits_model_dir: Path, old_folder: Path, signum: signal.Signals, monkeypatch
) -> None:
    # Each conversion call sleeps 3 s first, so the signal surely lands before the last one ends.
    inject_worker_hooks(monkeypatch, convert_delay=3.0)
    before = _snapshot(old_folder)
    proc = _start(digits_model_dir / "model.keras", old_folder)
    staging = _wait_for_staged_artifact(proc, old_folder)
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if signum == signal.SIGINT else 128 + signal.SIGTERM), err
    assert _group_gone(proc.pid), "a converter child outlived the interrupted convert"
    assert _snapshot(old_folder) == before
    assert not staging.exists() and _beside(old_folder) == []
    assert len(discover(old_folder)) == len(VARIANTS)  # still the old, verified variants


def test_a_killed_convert_leaves_a_named_staging_folder_the_next_run_removes(
    digits_model_dir: Path, old_folder: Path
) -> None:
    before = _snapshot(old_folder)
    proc = _start(digits_model_dir / "model.keras", old_folder)
    staging = _wait_for_staged_artifact(proc, old_folder)
    os.killpg(proc.pid, signal.SIGKILL)  # the convert and its converter child die at once
    proc.communicate(timeout=60)
    assert _group_gone(proc.pid)
    assert _snapshot(old_folder) == before
    assert staging.is_dir() and staging.name.startswith(f".{old_folder.name}.edgeship-staging-")
    assert [name for name, _ in discover(old_folder)][:2] == ["tflite-fp32", "tflite-fp16"]
    assert clean_stale(old_folder) == [staging]  # what the next convert does first
    assert _beside(old_folder) == [] and _snapshot(old_folder) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_swallowed_by_library_code_still_stops_the_swap(
    tmp_path: Path, signum: signal.Signals, monkeypatch
) -> None:
    """Code that catches the interrupt (a bare ``except:`` in a library) cannot make convert
    swap in a build it was asked to stop: the commit raises the signal again."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        expected = KeyboardInterrupt if signum == signal.SIGINT else SystemExit
        with pytest.raises(expected) as raised, staging.staged(out) as stage:
            (stage / "manifest.json").write_text('{"new": true}')
            try:
                os.kill(os.getpid(), signum)
                time.sleep(5)  # the handler raises here
            except BaseException:
                pass
            staging.commit(stage, out)
    finally:
        signal.signal(signal.SIGINT, previous)
    if signum == signal.SIGTERM:
        assert raised.value.code == 128 + signal.SIGTERM
    assert (out / "manifest.json").read_text() == "{}"
    assert _beside(out) == []  # the staging folder is gone
