"""When a cached verdict counts, on verdict files alone (no model is loaded): only a file this
user owns and nobody else may write, under a key that covers every field. (Verdicts of real
loads: test_verdicts.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeship.runtime import verdicts

KEY = verdicts.VerdictKey("ab" * 32, "litert", "2.3.0", verdicts.python_build())


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="no file owners on this platform")
def test_a_verdict_of_another_user_does_not_count(
    verdict_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = verdicts.record_verified(KEY)
    assert path is not None and verdicts.is_verified(KEY)
    owner = path.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # the file is now someone else's
    assert not verdicts.is_verified(KEY)


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o600, 0o644])
def test_a_verdict_others_may_write_does_not_count(verdict_cache: Path, mode: int) -> None:
    path = verdicts.record_verified(KEY)
    assert path is not None
    path.chmod(mode)
    assert verdicts.is_verified(KEY) == (not mode & 0o022)


def test_every_field_of_the_key_names_its_own_verdict(verdict_cache: Path) -> None:
    assert verdicts.record_verified(KEY) is not None
    others = [
        KEY._replace(sha256="cd" * 32),
        KEY._replace(backend="tflite-runtime"),
        KEY._replace(version="2.3.1"),
        KEY._replace(python="cpython-3.12.0-linux"),
        KEY._replace(checks="edgeship-0.0.0/checks-0"),
    ]
    digests = {KEY.digest, *(k.digest for k in others)}
    assert len(digests) == 1 + len(others)
    assert verdicts.is_verified(KEY)
    assert not any(verdicts.is_verified(k) for k in others)
