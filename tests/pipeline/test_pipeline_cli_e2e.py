"""``edgeship pipeline`` as a user runs it (the README's main job), in real CLI processes.

A short training on digits, three variants converted and parity-checked, benchmarked, reported
and a recommendation, all with budgets; then ``--resume`` with other latency and size budgets
reuses every step and chooses again. Each recommendation must obey its budgets, and the results
must match the files on disk. The budgets are derived from the first run's own measurements, so
they bite on any machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

VARIANTS = ("tflite-fp32", "tflite-int8", "onnx-fp32")
MAX_DROP = 5.0  # accuracy budget, percentage points
MIB = 1024 * 1024
STEPS = ["train", "convert", "bench"]


def pipeline(out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run ``edgeship pipeline`` in a fresh process (a generous timeout, not a speed check).

    With ``--resume`` the first run's settings come back from (a copy of) its ``config.json``;
    each resume writes its own, with its budgets.
    """
    if "--resume" in flags:
        flags = ("--config", str(out.parent / "first-config.json"), *flags)
    cmd = [sys.executable, "-m", "edgeship.cli.main", "pipeline", "--out", str(out), *flags]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, check=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact_files(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("pipeline_cli") / "run"
    done = pipeline(
        out,
        *("--recipe", "lenet5", "--dataset", "digits", "--epochs", "3", "--seed", "0"),
        *("--variants", ",".join(VARIANTS), "--backends", "litert,onnxruntime"),
        *("--threads", "1", "--bench-min-seconds", "0.05", "--cold", "0"),
        *("--no-keras-baseline", "--max-accuracy-drop", str(MAX_DROP), "--json"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)  # --json: stdout holds the results and nothing else
    shutil.copyfile(out / "config.json", out.parent / "first-config.json")
    return out, results


def obeys(results: dict[str, Any], latency_ms: float | None, size_mb: float | None) -> None:
    """The recommendation is the fastest configuration inside every budget, from the files."""
    rec = results["recommendation"]
    manifest = json.loads((Path(results["config"]["out"]) / "artifacts/manifest.json").read_text())
    by_name = {v["name"]: v for v in manifest["variants"]}
    inside = []
    for row in results["bench"]:
        variant = by_name.get(row["variant"])
        if variant is None or variant["status"] != "ok" or row.get("error"):
            continue
        delta = (variant.get("parity") or {}).get("accuracy_delta")
        if delta is None or -delta > MAX_DROP:
            continue
        if latency_ms is not None and row["latency_ms"]["p50"] > latency_ms:
            continue
        if size_mb is not None and variant["size_bytes"] > size_mb * MIB:
            continue
        inside.append(row)
    assert inside, "the budgets chosen by the test must leave a configuration"
    best = min(inside, key=lambda r: (r["latency_ms"]["p50"], by_name[r["variant"]]["size_bytes"]))
    assert (rec["variant"], rec["backend"], rec["threads"]) == (
        best["variant"],
        best["backend"],
        best["threads"],
    ), rec["reason"]
    assert rec["failed_budgets"] == []


def test_trains_converts_benches_and_recommends_inside_the_budgets(first_run) -> None:
    out, results = first_run
    assert results["schema"] == "edgeship.pipeline/1"
    assert [s["step"] for s in results["steps"]] == STEPS
    assert not any(s["skipped"] for s in results["steps"])
    train = results["steps"][0]
    assert train["test_accuracy"] > 0.5  # ten classes: chance is 0.1
    card = json.loads((out / "model/edgeship.json").read_text())
    assert card["training"]["recipe"] == "lenet5" and card["training"]["epochs_run"] == 3
    assert card["metrics"]["test_accuracy"] == pytest.approx(train["test_accuracy"])
    ok = [v["name"] for v in results["variants"] if v["status"] == "ok"]
    assert set(ok) == set(VARIANTS), results["variants"]
    obeys(results, None, None)
    assert "(budget: drop <= 5 pts)" in results["recommendation"]["reason"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["recommendation"] == results["recommendation"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert results["recommendation"]["variant"] in md
    for name in VARIANTS:
        assert name in md


def test_results_match_the_artifacts_on_disk(first_run) -> None:
    out, results = first_run
    manifest = json.loads((out / "artifacts/manifest.json").read_text())
    assert {v["name"] for v in manifest["variants"]} == set(VARIANTS)
    by_name = {v["name"]: v for v in results["variants"]}
    for entry in manifest["variants"]:
        path = out / "artifacts" / entry["file"]
        assert entry["sha256"] == sha256(path), entry["name"]
        assert entry["size_bytes"] == path.stat().st_size, entry["name"]
        assert by_name[entry["name"]]["sha256"] == entry["sha256"]
        assert by_name[entry["name"]]["size_bytes"] == entry["size_bytes"]
    rows = [r for r in results["bench"] if r["variant"] in VARIANTS]
    assert {r["variant"] for r in rows} == set(VARIANTS)
    for row in rows:
        path = out / "artifacts" / by_name[row["variant"]]["file"]
        assert row["sha256"] == sha256(path) and row["size_bytes"] == path.stat().st_size
        assert Path(row["artifact"]).resolve() == path.resolve()
        assert row["error"] is None and row["latency_ms"]["p50"] > 0
    model = out / "model/model.keras"
    assert results["model"]["sha256"] == sha256(model)
    assert results["model"]["test_accuracy"] == results["steps"][0]["test_accuracy"]


def test_resume_with_a_size_budget_reuses_every_step(first_run) -> None:
    out, results = first_run
    sizes = sorted({v["size_bytes"] for v in results["variants"]})
    size_mb = (sizes[0] + sizes[1]) / 2 / MIB  # only the smallest variant fits
    before = artifact_files(out)
    done = pipeline(out, "--resume", "--max-size-mb", f"{size_mb:.6f}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Recommendation: ship tflite-int8" in done.stdout
    again = json.loads((out / "results.json").read_text())
    assert [s["skipped"] for s in again["steps"]] == [True, True, True]
    assert artifact_files(out) == before  # nothing rebuilt
    assert again["bench"] == results["bench"]  # the measurements were reused, not re-taken
    assert again["config"]["max_size_mb"] == pytest.approx(size_mb, rel=1e-5)
    obeys(again, None, size_mb)
    assert again["recommendation"]["variant"] == "tflite-int8"


def test_resume_with_an_impossible_latency_budget_says_why_and_exits_3(first_run) -> None:
    out, results = first_run
    fastest = min(r["latency_ms"]["p50"] for r in results["bench"] if not r.get("error"))
    done = pipeline(out, "--resume", "--max-latency-ms", f"{fastest / 2:.9f}")
    assert done.returncode == 3, done.stderr[-3000:]
    assert "Recommendation: none" in done.stdout
    again = json.loads((out / "results.json").read_text())
    assert [s["skipped"] for s in again["steps"]] == [True, True, True]
    rec = again["recommendation"]
    assert rec["variant"] is None and rec["failed_budgets"] == ["latency"]
    assert "latency: the closest configuration" in rec["reason"] and "to fix:" in rec["reason"]
    # a generous latency budget: the same choice as without one
    done = pipeline(out, "--resume", "--max-latency-ms", f"{fastest * 1000:.6f}")
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    obeys(again, fastest * 1000, None)
    assert again["recommendation"]["variant"] == results["recommendation"]["variant"]
