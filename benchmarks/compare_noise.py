"""Can ``edgeship compare`` tell a real slowdown from a busy machine?

Benchmarks the same artifacts three times in a row with ``edgeship bench`` (each configuration
in its own process, as a user runs it): ``base``, ``again`` (nothing changed) and ``slowed``
(every query made 20% slower by ``benchmarks/slow_backend``), then compares ``again`` and
``slowed`` with ``base`` under three gates, one at a time: the raw median (``p50:5%``) and the
latencies relative to the reference kernel timed after every query (``rel_p50:5%``,
``rel_min:5%``; see ``edgeship.bench.reference``). An honest compare passes the first and
fails the second. It does so once with interleaved repeats (``--repeats 3``, the
default) and once without (``--repeats 1``), and prints how many configurations each flagged,
with the machine's load average beside it.

    python benchmarks/compare_noise.py runs/demo/artifacts/{tflite-int8.tflite,onnx-fp32.onnx} \
        [--rounds 2] [--slowdown 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GATES = ("p50:5%", "rel_p50:5%", "rel_min:5%")


def bench(artifacts: list[str], out: Path, repeats: int, slowdown: float) -> None:
    """One ``edgeship bench`` run of ``artifacts`` into ``out``."""
    env = dict(os.environ)
    if slowdown:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE / "slow_backend"), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["EDGESHIP_BENCH_SLOWDOWN"] = str(slowdown)
    cmd = [sys.executable, "-m", "edgeship.cli.main", "bench", *artifacts]
    cmd += ["--backend", "litert,onnxruntime", "--repeats", str(repeats), "--quiet"]
    subprocess.run([*cmd, "--json", str(out)], check=True, env=env, capture_output=True)


def flagged(base: Path, new: Path, gate: str) -> tuple[int, int, int, int]:
    """(exit code, configurations flagged, unresolved, compared) of compare under ``gate``."""
    cmd = [sys.executable, "-m", "edgeship.cli.main", "compare", str(base), str(new)]
    proc = subprocess.run([*cmd, "--json", "--fail-on", gate], capture_output=True, text=True)
    result = json.loads(proc.stdout)
    return (
        proc.returncode,
        len(result["regressions"]),
        len(result["unresolved"]),
        len(result["rows"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+", help=".tflite/.onnx files, or a folder of them")
    parser.add_argument("--rounds", type=int, default=2, help="base/again/slowed rounds")
    parser.add_argument("--slowdown", type=float, default=0.2)
    parser.add_argument("--repeats", default="3,1", help="repeat counts to try (default 3,1)")
    parser.add_argument("--keep", metavar="DIR", help="keep the results files in DIR")
    args = parser.parse_args(argv)
    paths = [Path(a) for a in args.artifacts]
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    artifacts = [str(f) for f in files if f.suffix in (".tflite", ".onnx")]
    print(
        "| repeats | round | load avg | gate | again vs base: exit, flagged, unresolved | "
        f"slowed {args.slowdown:.0%} vs base: exit, flagged, unresolved |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for round_index in range(args.rounds):
            for repeats in [int(r) for r in args.repeats.split(",")]:
                runs = {}
                for name, slowdown in (("base", 0.0), ("again", 0.0), ("slowed", args.slowdown)):
                    runs[name] = Path(tmp, f"{name}-{repeats}-{round_index}.json")
                    bench(artifacts, runs[name], repeats, slowdown)
                load = os.getloadavg()[0]
                for gate in GATES:
                    same = flagged(runs["base"], runs["again"], gate)
                    slow = flagged(runs["base"], runs["slowed"], gate)
                    print(
                        f"| {repeats} | {round_index + 1} | {load:.1f} | `{gate}` | "
                        f"{same[0]}, {same[1]}/{same[3]}, {same[2]} | "
                        f"{slow[0]}, {slow[1]}/{slow[3]}, {slow[2]} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
