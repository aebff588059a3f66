"""The README's code runs as written: its Python blocks in a fresh folder, its ``edgeship``
command lines through the real argument parser, and its claims about tables against the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from edgeship.childproc import child_env
from edgeship.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks of ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    return [body for lang, body in _BLOCK.findall(text) if lang == language]


def command_lines() -> list[list[str]]:
    """Every ``edgeship ...`` command of the shell blocks, continuation lines joined, as the
    arguments after ``edgeship``."""
    found = []
    for body in blocks("sh"):
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "edgeship" in words:
                found.append(words[words.index("edgeship") + 1 :])
    return found


def test_the_readme_has_the_blocks_this_file_checks():
    assert len(blocks("python")) >= 2
    assert len(command_lines()) >= 15


@pytest.mark.parametrize("argv", command_lines(), ids=lambda argv: " ".join(argv)[:60])
def test_every_readme_command_line_parses(argv: list[str]):
    """Flags the README shows exist with the values it gives them (nothing runs)."""
    parser = build_parser(argv[0])
    args = parser.parse_args(argv)
    assert args.command == argv[0] and callable(args.func)


@pytest.mark.slow
def test_the_readme_python_blocks_run_as_written(tmp_path: Path):
    """Each block runs in a fresh interpreter, in order, in one folder (a new user's), as
    written but for the number of training epochs (1 instead of 15: the code path is the
    same, the test stays short)."""
    env = child_env(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("EDGESHIP_PARENT_PID", None)
    for i, code in enumerate(blocks("python")):
        proc = subprocess.run(
            [sys.executable, "-c", code.replace("epochs=15", "epochs=1")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"README python block {i + 1}:\n{proc.stderr[-3000:]}"
    assert (tmp_path / "runs/m/artifacts/tflite-int8.tflite").is_file()
    assert (tmp_path / "digit.png").is_file()


def test_the_readme_names_the_columns_the_pipeline_report_leaves_out():
    from edgeship.bench import fields
    from edgeship.pipeline.report import BENCH_FIELDS

    shown = {f.key for f in BENCH_FIELDS}
    left_out = [f.header for f in fields.FIELDS if f.key not in shown]
    text = " ".join(README.read_text(encoding="utf-8").split())
    listed = ", ".join(left_out[:-1]) + f" and {left_out[-1]}"
    assert f"leaves out {listed} (its variants table shows sizes)" in text
    assert os.path.exists(Path(fields.__file__))  # the file the README names
    assert "`src/edgeship/bench/fields.py`" in text
