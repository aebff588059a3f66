"""The staging folder mechanics on their own (no converter): swap, carry-over, clean-up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from edgeship.convert import staging
from edgeship.convert.staging import clean_stale, commit, staged


def _old(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    (out / "tflite-int8.tflite").write_bytes(b"old")
    (out / "tflite-int8.quant-debug.csv").write_text("old")
    (out / "manifest.json").write_text("{}")
    (out / "notes" / "a.txt").write_text("mine")
    return out


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_commit_swaps_the_folder_whole_and_keeps_user_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    out = _old(tmp_path)
    monkeypatch.chdir(out / "notes")  # a shell sitting inside the output folder
    with staged(out) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".out.edgeship-staging-")
        (stage / "onnx-fp32.onnx").write_bytes(b"new")
        (stage / "manifest.json").write_text('{"new": 1}')
        commit(stage, out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes", "onnx-fp32.onnx"]
    assert (out / "notes" / "a.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert Path.cwd() == out / "notes" and Path("a.txt").read_text() == "mine"


def test_an_interrupt_or_sigterm_removes_the_staging_folder(tmp_path: Path) -> None:
    out = _old(tmp_path)
    before = sorted(p.name for p in out.rglob("*"))
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), staged(out) as stage:
        (stage / "tflite-fp32.tflite").write_bytes(b"half")
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as info, staged(out) as stage:
        (stage / "tflite-fp32.tflite").write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler lives only inside
    assert sorted(p.name for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_stale_folders_of_dead_converts_are_removed_or_restored(tmp_path: Path) -> None:
    out = _old(tmp_path)
    dead = _dead_pid()
    stale = tmp_path / f".out.edgeship-staging-{dead}-abc"
    stale.mkdir()
    alive = tmp_path / f".out.edgeship-staging-{os.getppid()}-abc"  # a convert still running
    alive.mkdir()
    other = tmp_path / f".other.edgeship-staging-{dead}-abc"  # another output's
    other.mkdir()
    assert clean_stale(out) == [stale]
    assert alive.is_dir() and other.is_dir()
    # A crash between the two renames of the fallback swap: the old folder comes back.
    moved = tmp_path / f".out.edgeship-old-{dead}-abc"
    out.rename(moved)
    assert clean_stale(out) == [] and not moved.exists()
    assert (out / "notes" / "a.txt").read_text() == "mine"


def test_a_signal_swallowed_inside_the_block_still_stops_the_swap(tmp_path: Path) -> None:
    """Library code that catches the SystemExit of a SIGTERM does not make the build count:
    commit raises it again and the old folder stays."""
    out = _old(tmp_path)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(SystemExit) as info, staged(out) as stage:
        (stage / "tflite-fp32.tflite").write_bytes(b"half")
        with contextlib.suppress(SystemExit):
            os.kill(os.getpid(), signal.SIGTERM)
        commit(stage, out)
    assert info.value.code == 128 + signal.SIGTERM
    assert sorted(p.name for p in out.rglob("*")) == before
    assert (out / "tflite-int8.tflite").read_bytes() == b"old"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_commit_on_its_own_leaves_no_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    monkeypatch.setattr(staging, "_signalled", [])  # no signal left from an earlier block
    out = _old(tmp_path)
    stage = tmp_path / f"{staging.staging_prefix(out)}{os.getpid()}-manual"
    stage.mkdir()
    (stage / "manifest.json").write_text('{"new": 1}')
    commit(stage, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "manifest.json").read_text() == '{"new": 1}'
