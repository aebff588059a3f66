"""``python -m edgeship.fleet.demo``: a two-device fleet on this machine (``make fleet-demo``).

Starts a Dask scheduler and two ``edgeship worker`` processes labelled ``cpu-a`` and
``cpu-b``, benches every digits variant on both, writes ``OUT/bench.json`` and
``OUT/report.html``, and stops every process it started, also on failure or SIGTERM. The
digits model and its variants are trained and converted once into ``OUT/model`` and
``OUT/artifacts`` (reused while ``OUT/artifacts/manifest.json`` exists).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgeship.errors import EdgeshipError
from edgeship.fileio import read_json
from edgeship.manifest import MANIFEST_FILENAME, Manifest

LABELS = ("cpu-a", "cpu-b")


def _edgeship(*args: str, check: bool = True) -> int:
    """Run one ``edgeship`` command in a child process; its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", *args], check=check
    ).returncode


def build_variants(out: Path, epochs: int) -> list[str]:
    """Train and convert the digits model once; returns the variants that converted."""
    manifest = out / "artifacts" / MANIFEST_FILENAME
    if not manifest.is_file():
        model = out / "model"
        _edgeship("train", "--recipe", "mnist-cnn", "--dataset", "digits",
                  "--epochs", str(epochs), "--out", str(model), "--force")  # fmt: skip
        _edgeship("convert", str(model / "model.keras"), "--to", "all",
                  "--out", str(out / "artifacts"), "--force")  # fmt: skip
    return [str(p) for p in Manifest.read(manifest).ok_artifacts(out / "artifacts")]


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when both devices measured every variant."""
    parser = argparse.ArgumentParser(prog="python -m edgeship.fleet.demo", description=__doc__)
    parser.add_argument("--out", default="runs/fleet", help="output folder (default runs/fleet)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--min-seconds", default="0.5", help="measuring seconds per row")
    args = parser.parse_args(argv)
    _stop_on_sigterm()
    from edgeship.fleet.local import LocalFleet

    out = Path(args.out)
    try:
        artifacts = build_variants(out, args.epochs)
        with LocalFleet(LABELS) as fleet:
            print(f"fleet-demo: cluster {fleet.address}, devices {', '.join(LABELS)}")
            code = _edgeship(
                "bench", *artifacts, "--cluster", fleet.address, "--device", ",".join(LABELS),
                "--eval", str(out / "model" / "eval.npz"), "--min-seconds", args.min_seconds,
                "--json", str(out / "bench.json"), "--force", check=False,
            )  # fmt: skip
        # every process is stopped here; the report needs none of them
        report = str(out / "report.html")
        _edgeship("report", str(out / "bench.json"), "--out", report, "--force",
                  "--title", "edgeship fleet: cpu-a vs cpu-b", check=False)  # fmt: skip
    except (EdgeshipError, subprocess.CalledProcessError) as exc:
        print(f"fleet-demo: error: {exc}", file=sys.stderr)
        return 1
    devices = sorted({r.get("device") for r in read_json(out / "bench.json")["results"]})
    print(f"fleet-demo: rows from devices {devices}; wrote {out / 'bench.json'} and {report}")
    return code


if __name__ == "__main__":
    sys.exit(main())
