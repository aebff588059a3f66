"""Cold start, whole process: edgeship against a bare LiteRT script, side by side in one run.

Every scenario is a fresh process that loads the digits CNN (``mnist-cnn`` recipe, 8x8x1,
float32 .tflite) and runs one prediction on one sample; rounds alternate the scenarios (the
order is reversed every other round) and medians are reported against the bare script:

* ``bare``: ``Interpreter`` -> ``allocate_tensors`` -> ``set_tensor`` -> ``invoke`` ->
  ``get_tensor`` on ai-edge-litert, nothing else.
* ``load``: ``edgeship.runtime.load(path, verify=False)`` + ``predict``.
* ``load-manifest``: ``load(path)`` + ``predict`` with a ``manifest.json`` vouching for the file.
* ``cli``: the ``edgeship predict PATH --input x.npy`` command on that vouched file.
* ``untrusted-first``: ``load(path)`` + ``predict`` of a file without a manifest, with an
  empty verdict cache: the file is checked in a child process (its first load anywhere).
* ``untrusted-later``: the same with the verdict of an earlier load in the cache (every later
  load of that file).

Wall time and CPU time (user + system) and peak RSS come from ``wait4``; they include the
validating child of ``untrusted-first`` (peak RSS: the larger of the two processes). The
ratio columns are ratios of medians; ``paired`` is the median of the per-round ratios, each
scenario against the bare run of its own round, which cancels the drift of a shared machine;
``min`` is the fastest run of each (the one least disturbed by other work on the machine).
Bytecode caches are warm, as for an installed package. Where valgrind is installed, each
scenario is also run once under callgrind and the instructions it executed (children
included) are counted: a figure that, unlike time, does not move with the other work on a
shared machine (``--no-count`` skips it; under callgrind a run takes ~15 s). One command::

    python benchmarks/cold_start.py [--rounds 15] [--json cold_start.json] [--no-count]
                                    [--before OLD/src]

It builds the model first (in a child process that imports TensorFlow, ~10 s). ``--before``
adds the ``load``, ``load-manifest`` and ``cli`` scenarios run on another copy of the package
(e.g. ``git archive HEAD~1 src | tar -x -C OLD``) to the same alternating rounds, as
``<scenario>@before``: a change measured side by side with the code before it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PYCACHE = os.path.join(tempfile.gettempdir(), "edgeship-coldstart-pycache")
TARGETS = {"load": 1.10, "cli": 1.15, "untrusted-later": 1.15}
RSS_TARGETS = {"load": 1.05}

BUILD = """
import sys, numpy as np, keras, tensorflow as tf
from edgeship.train.recipes.mnist_cnn import build
keras.utils.set_random_seed(0)
model = build((8, 8, 1), 10)
open(sys.argv[1], "wb").write(tf.lite.TFLiteConverter.from_keras_model(model).convert())
np.save(sys.argv[2], np.zeros((1, 8, 8, 1), np.float32))
"""
BARE = """
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
i = Interpreter(model_path=sys.argv[1]); i.allocate_tensors()
d = i.get_input_details()[0]
i.set_tensor(d["index"], np.load(sys.argv[2])); i.invoke()
y = i.get_tensor(i.get_output_details()[0]["index"])
"""
EDGESHIP = """
import sys
import numpy as np
from edgeship.runtime import load
verify = {"none": None, "false": False}[sys.argv[3]]
y = load(sys.argv[1], verify=verify).predict(np.load(sys.argv[2]))
"""


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Return (wall s, CPU s, peak RSS MiB) of one process; raise if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {stderr[-1500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def instructions(cmd: list[str], env: dict[str, str]) -> int:
    """Instructions one process and its children execute, counted by valgrind's callgrind:
    unlike time, the count does not move with the other work on a shared machine. numpy's
    BLAS runs one thread here (idle BLAS threads spin, which would add to the count)."""
    with tempfile.TemporaryDirectory(prefix="edgeship-callgrind-") as logs:
        vg = [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--trace-children=yes",
            f"--log-file={logs}/%p.log",
        ]
        proc = subprocess.run(
            [*vg, *cmd], capture_output=True, text=True, env={**env, "OPENBLAS_NUM_THREADS": "1"}
        )
        text = "".join(p.read_text() for p in Path(logs).glob("*.log"))
    counts = [int(m) for m in re.findall(r"Collected : (\d+)", text)]
    if proc.returncode != 0 or not counts:
        raise RuntimeError(f"valgrind {cmd[:4]} failed: {proc.stderr[-1500:]}{text[-1500:]}")
    return sum(counts)


def edgeship_command() -> list[str]:
    """The installed ``edgeship`` script beside this Python, else ``python -c`` calling main."""
    script = Path(sys.executable).parent / "edgeship"
    if script.is_file():
        return [sys.executable, str(script)]
    code = "import sys; from edgeship.cli.main import main; sys.exit(main())"
    return [sys.executable, "-c", code]


def prepare(
    work: Path, before: Path | None = None
) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    """Build the model and return ``{scenario: (command, env or None for the default)}``;
    with ``before`` (a ``src`` folder) also the edgeship scenarios run on that code."""
    untrusted, vouched = work / "untrusted", work / "vouched"
    untrusted.mkdir()
    vouched.mkdir()
    model, x = untrusted / "digits_cnn-fp32.tflite", work / "x.npy"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-c", BUILD, str(model), str(x)], check=True, env=env)
    data = model.read_bytes()
    (vouched / model.name).write_bytes(data)
    entry = {"name": "tflite-fp32", "file": model.name, "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {"schema": "edgeship.manifest/1", "variants": [entry]}
    (vouched / "manifest.json").write_text(json.dumps(manifest))
    py, m, v = [sys.executable, "-c"], str(model), str(vouched / model.name)
    warm = str(work / "cache-warm")
    scenarios: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "bare": ([*py, BARE, m, str(x)], None),
        "load": ([*py, EDGESHIP, m, str(x), "false"], None),
        "load-manifest": ([*py, EDGESHIP, v, str(x), "none"], None),
        "cli": ([*edgeship_command(), "predict", v, "--input", str(x)], None),
        "untrusted-first": ([*py, EDGESHIP, m, str(x), "none"], {}),  # fresh cache each run
        "untrusted-later": ([*py, EDGESHIP, m, str(x), "none"], {"EDGESHIP_CACHE_DIR": warm}),
    }
    if before is not None:
        old = {
            "PYTHONPATH": str(before.resolve()),
            "EDGESHIP_CACHE_DIR": str(work / "cache-default"),
        }
        for name in ("load", "load-manifest", "cli"):
            scenarios[f"{name}@before"] = (scenarios[name][0], old)
    return scenarios


def measure(
    work: Path, rounds: int, count: bool, before: Path | None = None
) -> dict[str, dict[str, list[float]]]:
    """Run every scenario ``rounds`` times, alternating; per scenario wall, cpu, rss lists
    (and ``instr``, one instruction count each, with ``count``)."""
    scenarios = prepare(work, before)
    base = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPYCACHEPREFIX=PYCACHE)
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base["EDGESHIP_CACHE_DIR"] = str(work / "cache-default")
    fresh = iter(range(10**6))

    def env_of(extra: dict[str, str] | None) -> dict[str, str]:
        if extra is None:
            return base
        return {**base, "EDGESHIP_CACHE_DIR": str(work / f"cache-{next(fresh)}"), **extra}

    for cmd, extra in scenarios.values():  # warm the page cache, .pyc files and warm cache
        run_once(cmd, env_of(extra))
    out: dict[str, dict[str, list[float]]] = {
        k: {"wall": [], "cpu": [], "rss": []} for k in scenarios
    }
    names = list(scenarios)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            cmd, extra = scenarios[name]
            wall, cpu, rss = run_once(cmd, env_of(extra))
            out[name]["wall"].append(wall)
            out[name]["cpu"].append(cpu)
            out[name]["rss"].append(rss)
    if count:
        for name, (cmd, extra) in scenarios.items():
            out[name]["instr"] = [float(instructions(cmd, env_of(extra)))]
    return out


def summarize(raw: dict[str, dict[str, list[float]]]) -> list[dict[str, Any]]:
    """One row per scenario: medians, ratios of medians and paired ratios against ``bare``."""
    bare = raw["bare"]
    rows = []
    for name, runs in raw.items():
        med = {k: statistics.median(runs[k]) for k in ("wall", "cpu", "rss")}
        paired = {
            k: statistics.median(a / b for a, b in zip(runs[k], bare[k], strict=True)) for k in med
        }
        row: dict[str, Any] = {
            "scenario": name,
            "wall_ms": round(med["wall"] * 1000, 1),
            "cpu_ms": round(med["cpu"] * 1000, 1),
            "peak_rss_mib": round(med["rss"], 1),
            "wall_ratio": round(med["wall"] / statistics.median(bare["wall"]), 3),
            "cpu_ratio": round(med["cpu"] / statistics.median(bare["cpu"]), 3),
            "rss_ratio": round(med["rss"] / statistics.median(bare["rss"]), 3),
            "wall_ratio_paired": round(paired["wall"], 3),
            "wall_ms_min": round(min(runs["wall"]) * 1000, 1),
            "wall_ratio_min": round(min(runs["wall"]) / min(bare["wall"]), 3),
        }
        if "instr" in runs:
            row["instructions_m"] = round(runs["instr"][0] / 1e6, 1)
            row["instructions_ratio"] = round(runs["instr"][0] / bare["instr"][0], 3)
        if name in TARGETS:
            row["target_time"] = TARGETS[name]
        if name in RSS_TARGETS:
            row["target_rss"] = RSS_TARGETS[name]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds (>= 9)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--no-count", action="store_true", help="skip the instruction counts (valgrind)"
    )
    parser.add_argument(
        "--before", type=Path, help="a src folder of older code to run side by side with this one"
    )
    args = parser.parse_args(argv)
    if args.rounds < 9:
        parser.error(f"--rounds must be at least 9. Got: {args.rounds}")
    if args.before is not None and not (args.before / "edgeship" / "__init__.py").is_file():
        parser.error(f"--before expects a src folder holding edgeship/. Got: {args.before}")
    count = not args.no_count and shutil.which("valgrind") is not None
    with tempfile.TemporaryDirectory(prefix="edgeship-coldstart-") as tmp:
        rows = summarize(measure(Path(tmp), args.rounds, count, args.before))
    print(
        f"{'scenario':20s} {'wall ms':>8s} {'x bare':>7s} {'paired':>7s} {'min ms':>7s} "
        f"{'x bare':>7s} {'CPU ms':>8s} {'x bare':>7s} {'RSS MiB':>8s} {'x bare':>7s}  target"
    )
    for row in rows:
        target = ", ".join(
            f"{k.split('_')[1]} <= {v}x" for k, v in row.items() if k.startswith("target")
        )
        print(
            f"{row['scenario']:20s} {row['wall_ms']:8.1f} {row['wall_ratio']:7.3f} "
            f"{row['wall_ratio_paired']:7.3f} {row['wall_ms_min']:7.1f} "
            f"{row['wall_ratio_min']:7.3f} {row['cpu_ms']:8.1f} {row['cpu_ratio']:7.3f} "
            f"{row['peak_rss_mib']:8.1f} {row['rss_ratio']:7.3f}  {target}"
        )
    if count:
        print("instructions (valgrind callgrind, one run each, children included):")
        for row in rows:
            print(
                f"  {row['scenario']:20s} {row['instructions_m']:9.1f} M  "
                f"x{row['instructions_ratio']:.3f}"
            )
    if args.json:
        from edgeship.fileio import atomic_write_json
        from edgeship.versions import installed_versions

        doc = {
            "schema": "edgeship.cold_start/1",
            "rounds": args.rounds,
            "python": sys.version.split()[0],
            "versions": installed_versions(),
            "results": rows,
        }
        atomic_write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
