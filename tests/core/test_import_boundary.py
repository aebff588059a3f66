"""The runtime side never imports TensorFlow or Keras; the CLI's help stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "tf2onnx")


def _heavy_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport sys\nprint('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("HEAVY="), out.stdout
    return [m for m in last.removeprefix("HEAVY=").split(",") if m]


@pytest.mark.parametrize(
    "module",
    [
        "edgeship",
        "edgeship.runtime",
        "edgeship.bench",
        "edgeship.serve",
        "edgeship.card",
        "edgeship.fleet",
        "edgeship.fleet.worker",
        "edgeship.fleet.device",
        "edgeship.cli.worker",
    ],
)
def test_import_leaves_tensorflow_out(module):
    assert _heavy_after(f"import {module}") == []


def test_every_command_help_works_without_tensorflow():
    from edgeship.cli.main import COMMAND_MODULES

    names = [m.replace("inspect_artifact", "inspect") for m in COMMAND_MODULES]
    code = (
        "import contextlib, io\n"
        "from edgeship.cli.main import main\n"
        f"for name in {names!r}:\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        try:\n"
        "            main([name, '--help'])\n"
        "        except SystemExit as exc:\n"
        "            assert exc.code == 0, (name, exc.code)\n"
        "    assert 'examples:' in buf.getvalue(), name\n"
    )
    assert _heavy_after(code) == []
