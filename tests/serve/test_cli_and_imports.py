"""`edgeship serve` as a process: starts, answers, stops on SIGTERM, never imports TensorFlow."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import urllib.request

import numpy as np

from .cli_process import serve_env, start_serve_cli, stop

HEAVY = ("tensorflow", "keras", "tf2onnx")


def test_serve_process_never_imports_tensorflow(artifacts, tmp_path):
    script = textwrap.dedent(
        f"""
        import json, sys, urllib.request
        import numpy as np
        from edgeship.serve import ServeSettings, create_server
        x = np.load({str(tmp_path / "x.npy")!r})
        with create_server([{str(artifacts.convert_dir)!r}], ServeSettings(port=0)) as srv:
            for model in ("tflite-fp32", "tflite-int8", "onnx-fp32"):
                req = urllib.request.Request(
                    f"{{srv.url}}/v1/models/{{model}}:predict",
                    data=json.dumps({{"instances": x.tolist()}}).encode(),
                )
                assert len(json.load(urllib.request.urlopen(req))["predictions"]) == 2
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        print(json.dumps(heavy))
        """
    )
    np.save(tmp_path / "x.npy", artifacts.digits[:2])
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=serve_env()
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cli_serves_until_sigterm(artifacts):
    proc, info = start_serve_cli(
        str(artifacts.convert_dir), "--port", "0", "--grpc-port", "0", "--workers", "2"
    )
    try:
        assert [m["name"] for m in info["models"]] == ["onnx-fp32", "tflite-fp32", "tflite-int8"]
        with urllib.request.urlopen(info["url"] + "/v2/health/ready", timeout=10) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)


def test_cli_reports_bad_path_as_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", "serve", str(tmp_path / "nope.tflite")],
        capture_output=True, text=True, timeout=60, env=serve_env(),
    )  # fmt: skip
    assert out.returncode == 1
    assert "edgeship serve: error: Cannot serve" in out.stderr
    assert "no such file or directory" in out.stderr


def test_cli_help_has_examples():
    out = subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", "serve", "--help"],
        capture_output=True, text=True, timeout=60, env=serve_env(),
    )  # fmt: skip
    assert out.returncode == 0
    assert "examples:" in out.stdout and "--token-file" in out.stdout


def test_the_startup_table_keeps_its_columns_with_long_names(artifacts):
    long_name = "digits-classifier-with-a-rather-long-name"
    cmd = [sys.executable, "-m", "edgeship.cli.main", "serve", "--port", "0", "--grpc-port", "0",
           "--name", f"{long_name}={artifacts.fp32_tflite}",
           "--name", f"short={artifacts.convert_dir / 'onnx-fp32.onnx'}"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=serve_env())
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("edgeship serve: 2 model(s) at http://"), lines
        rows = sorted(lines[1:])  # "  NAME  BACKEND  PATH"
        assert [row.split()[0] for row in rows] == [long_name, "short"]
        assert len({row.index(row.split()[1]) for row in rows}) == 1, rows  # backend column
        assert len({row.index(row.split()[2]) for row in rows}) == 1, rows  # path column
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stop(proc)
