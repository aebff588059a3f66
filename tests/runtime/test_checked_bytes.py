"""The bytes that are checked (structure, child process, verdict) are the bytes loaded.

A file swapped on disk after it was read must neither be loaded unchecked nor lend its
verdict to other bytes: the swap is forced by a start-up hook of the validating child, which
rewrites the file after this process has read and hashed it, before the child could read it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import ModelLoadError
from edgeship.runtime import load

SWAP = """
import os, shutil
if not os.path.exists({marker!r}):  # once: only the first validating child swaps the file
    open({marker!r}, "w").close()
    shutil.copyfile({source!r}, {target!r})
"""


def _swap_in_child(tmp_path: Path, target: Path, source: Path, monkeypatch) -> None:
    """Make the next validating child overwrite ``target`` with ``source`` as it starts."""
    hook = tmp_path / "hook"
    hook.mkdir()
    code = SWAP.format(marker=str(tmp_path / "swapped"), source=str(source), target=str(target))
    (hook / "sitecustomize.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", str(hook))  # the child still finds edgeship (its src)


@pytest.mark.parametrize("name", ["fp32.tflite", "fp32.onnx"])
def test_a_file_swapped_after_hashing_is_checked_and_loaded_as_hashed(
    name: str, artifacts: Path, tmp_path: Path, counted, verdict_cache: Path, digits, monkeypatch
):
    target = tmp_path / f"m{Path(name).suffix}"
    shutil.copy(artifacts / name, target)
    original = target.read_bytes()
    garbage = tmp_path / "garbage"
    garbage.write_bytes(original[: len(original) // 3])  # a truncated file fails every check
    with load(artifacts / name, verify=False) as engine:
        expected = engine.predict(digits["x"][:8])
    _swap_in_child(tmp_path, target, garbage, monkeypatch)

    with load(target) as engine:  # untrusted: hashed here, then validated in a child
        got = engine.predict(digits["x"][:8])
    assert (tmp_path / "swapped").exists() and target.read_bytes() == garbage.read_bytes()
    assert counted == [target]
    np.testing.assert_array_equal(got, expected)  # the engine runs the bytes that were read
    (verdict,) = verdict_cache.glob("verified/*/*.json")  # the child passed them, not garbage
    assert json.loads(verdict.read_text())["sha256"] == hashlib.sha256(original).hexdigest()

    with pytest.raises(ModelLoadError, match="could not be read"):
        load(target)  # what is on disk now has no verdict: it is checked, and refused


def test_onnx_placement_profiles_the_loaded_bytes(artifacts: Path, tmp_path: Path):
    """op_placement opens a second session: of the bytes the engine loaded, not of the path."""
    target = tmp_path / "m.onnx"
    shutil.copy(artifacts / "fp32.onnx", target)
    sha = hashlib.sha256(target.read_bytes()).hexdigest()
    doc = {"schema": "edgeship.manifest/1", "variants": [{"file": "m.onnx", "sha256": sha}]}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with load(target) as engine:  # vouched for by the manifest: read once, loaded from bytes
        target.write_bytes(b"\x08\x07 not a model any more")
        placement = engine.op_placement()
    assert placement is not None and placement["CPUExecutionProvider"] > 0
