"""Cold start: new process -> first prediction, wall time and peak RSS, side by side.

Scenarios (each a fresh ``python -c`` process, interleaved over R rounds; medians reported):

* ``raw-litert``: import ai_edge_litert, Interpreter, allocate, set/invoke/get.
* ``edgeship``: ``load(path, verify=False)`` + ``predict`` (no manifest check, no child).
* ``edgeship-manifest``: ``load(path)`` with a manifest.json beside it that vouches for the file.
* ``edgeship-verify``: ``load(path, verify=True)``: validation in a child process first.
* ``cli``: ``edgeship predict PATH --input x.npy --no-verify`` (via ``python -m``).
* ``raw-onnxruntime`` / ``edgeship-onnx``: the same for the .onnx model.
* ``tf-lite``: ``import tensorflow``, ``tf.lite.Interpreter`` (for contrast).

    python benchmarks/runtime_coldstart.py --models DIR [--rounds 7] [--json out.json]

DIR is written by ``runtime_overhead.py --build DIR``. CPU time (user + system) and peak RSS
come from ``wait4`` (they include the validating grandchild of ``edgeship-verify``; peak RSS
is the larger of the two processes). ``ru_maxrss`` also covers the forked image before
``exec``: this process stays at ~35 MiB (numpy), below every scenario's peak, so the figures
are the children's own. On a shared machine the CPU time is the steadier clock.
Children run with bytecode caching on (``PYTHONPYCACHEPREFIX`` in the temp directory), as an
installed package would, even where the environment sets ``PYTHONDONTWRITEBYTECODE``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cold_start

# Bytecode caches as an installed package has them (pip compiles at install), kept out of the
# source tree; the warm-up run of each scenario fills it.
PYCACHE = os.path.join(tempfile.gettempdir(), "edgeship-coldstart-pycache")

RAW_TFLITE = """
import numpy as np
from ai_edge_litert.interpreter import Interpreter
i = Interpreter(model_path={path!r}); i.allocate_tensors()
d = i.get_input_details()[0]
i.set_tensor(d["index"], np.load({x!r})); i.invoke()
y = i.get_tensor(i.get_output_details()[0]["index"])
"""
EDGESHIP = """
import numpy as np
from edgeship.runtime import load
y = load({path!r}{verify}).predict(np.load({x!r}))
"""
RAW_ONNX = """
import numpy as np, onnxruntime as ort
s = ort.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
y = s.run(None, {{s.get_inputs()[0].name: np.load({x!r})}})[0]
"""
TF_LITE = """
import numpy as np, tensorflow as tf
i = tf.lite.Interpreter(model_path={path!r}); i.allocate_tensors()
d = i.get_input_details()[0]
i.set_tensor(d["index"], np.load({x!r})); i.invoke()
y = i.get_tensor(i.get_output_details()[0]["index"])
"""


def run_once(cmd: list[str]) -> tuple[float, float, float]:
    """Return (wall s, CPU s, peak RSS MiB) of one child process; raise if it fails."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPYCACHEPREFIX=PYCACHE)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return cold_start.run_once(cmd, env)


def scenarios(models: Path, work: Path, with_tf: bool) -> dict[str, list[str]]:
    tfl = work / "digits_cnn-fp32.tflite"
    shutil.copy(models / tfl.name, tfl)
    trusted = work / "trusted"
    trusted.mkdir(exist_ok=True)
    shutil.copy(tfl, trusted / tfl.name)
    sha = hashlib.sha256(tfl.read_bytes()).hexdigest()
    (trusted / "manifest.json").write_text(
        json.dumps(
            {
                "schema": "edgeship.manifest/1",
                "variants": [{"name": "tflite-fp32", "file": tfl.name, "sha256": sha}],
            }
        )
    )
    onnx = work / "digits_cnn-fp32.onnx"
    shutil.copy(models / onnx.name, onnx)
    x = work / "x.npy"
    np.save(x, np.zeros((1, 8, 8, 1), np.float32))
    py = [sys.executable, "-c"]

    def code(template: str, path: Path, verify: str = "") -> list[str]:
        return [*py, template.format(path=str(path), x=str(x), verify=verify)]

    out = {
        "raw-litert": code(RAW_TFLITE, tfl),
        "edgeship": code(EDGESHIP, tfl, ", verify=False"),
        "edgeship-manifest": code(EDGESHIP, trusted / tfl.name),
        "edgeship-verify": code(EDGESHIP, tfl, ", verify=True"),
        "cli": [
            sys.executable,
            "-m",
            "edgeship.cli.main",
            "predict",
            str(tfl),
            "--input",
            str(x),
            "--no-verify",
            "--json",
        ],
        "raw-onnxruntime": code(RAW_ONNX, onnx),
        "edgeship-onnx": code(EDGESHIP, onnx, ", verify=False"),
    }
    if with_tf:
        out["tf-lite"] = code(TF_LITE, tfl)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow scenario")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cmds = scenarios(args.models, Path(tmp), not args.no_tf)
        for cmd in cmds.values():  # warm the page cache and .pyc files
            run_once(cmd)
        walls: dict[str, list[float]] = {k: [] for k in cmds}
        cpus: dict[str, list[float]] = {k: [] for k in cmds}
        rss: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.rounds):
            for name, cmd in cmds.items():
                w, c, r = run_once(cmd)
                walls[name].append(w)
                cpus[name].append(c)
                rss[name].append(r)
    rows: list[dict[str, Any]] = []
    for name in cmds:
        base = "raw-onnxruntime" if "onnx" in name else "raw-litert"
        row = {
            "scenario": name,
            "wall_s_median": statistics.median(walls[name]),
            "wall_s_min": min(walls[name]),
            "peak_rss_mib_median": statistics.median(rss[name]),
            "wall_ratio": statistics.median(walls[name]) / statistics.median(walls[base]),
            "cpu_s_median": statistics.median(cpus[name]),
            "cpu_ratio": statistics.median(cpus[name]) / statistics.median(cpus[base]),
            "rss_ratio": statistics.median(rss[name]) / statistics.median(rss[base]),
        }
        rows.append(row)
        print(
            f"{name:18s} wall {row['wall_s_median'] * 1000:8.1f} ms (min "
            f"{row['wall_s_min'] * 1000:7.1f})  x{row['wall_ratio']:.2f}   CPU "
            f"{row['cpu_s_median'] * 1000:8.1f} ms x{row['cpu_ratio']:.2f}   peak RSS "
            f"{row['peak_rss_mib_median']:7.1f} MiB  x{row['rss_ratio']:.2f}"
        )
    if args.json:
        from edgeship.fileio import atomic_write_json
        from edgeship.versions import installed_versions

        atomic_write_json(
            args.json,
            {
                "benchmark": "runtime_coldstart",
                "rounds": args.rounds,
                "versions": installed_versions(),
                "results": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
