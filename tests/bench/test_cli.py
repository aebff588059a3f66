"""`edgeship bench`, `report` and `compare` from the command line (in this process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgeship.bench import load_results, save_results
from edgeship.bench.stats import summarize
from edgeship.bench.storage import make_results
from edgeship.cli.bench import parse_pin, parse_provider
from edgeship.cli.main import main
from edgeship.errors import ConfigError

FAST_ARGS = [
    *("--runs", "5", "--min-seconds", "0.02", "--warmup-seconds", "0.01", "--repeats", "1"),
    "--quiet",
]


def test_bench_a_directory_writes_json_md_and_csv(bench_artifacts, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            str(bench_artifacts),
            "--allow-no-manifest",  # hand-built artifacts: no convert vouches for them
            "--backend",
            "litert,onnxruntime",
            "--threads",
            "1,2",
            "--in-process",
            "--eval",
            str(bench_artifacts / "eval.npz"),
            "--json",
            str(out),
            "--md",
            str(tmp_path / "b.md"),
            "--csv",
            str(tmp_path / "b.csv"),
            *FAST_ARGS,
        ]
    )
    assert code == 0
    rows = load_results(out)["results"]
    assert sorted({r["variant"] for r in rows}) == ["onnx-fp32", "tflite-fp32", "tflite-int8"]
    assert sorted({r["threads"] for r in rows}) == [1, 2] and len(rows) == 6
    assert all(r["accuracy"] is not None for r in rows)
    assert "| tflite-int8 | litert |" in capsys.readouterr().out
    assert (tmp_path / "b.md").read_text().startswith("# Benchmark")
    assert len((tmp_path / "b.csv").read_text().strip().splitlines()) == 7


def test_bench_json_to_stdout(bench_artifacts, capsys):
    art = str(bench_artifacts / "tflite-fp32.tflite")
    assert main(["bench", art, "--in-process", "--json", "-", *FAST_ARGS]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "edgeship.bench/1" and doc["results"][0]["variant"] == "tflite-fp32"


def test_bench_refuses_to_overwrite_results_without_force(bench_artifacts, tmp_path, capsys):
    out = tmp_path / "bench.json"
    out.write_text("{}")
    art = str(bench_artifacts / "tflite-fp32.tflite")
    assert main(["bench", art, "--json", str(out), *FAST_ARGS]) == 1
    assert "already exists. Expected a new path; pass --force" in capsys.readouterr().err
    assert out.read_text() == "{}"


def test_bench_checks_its_output_paths_before_measuring(bench_artifacts, tmp_path, capsys):
    """A file in the way or two outputs on one path fail at once, not after the sweep."""
    (tmp_path / "afile").write_text("x")
    art = str(bench_artifacts / "tflite-fp32.tflite")
    assert main(["bench", art, "--json", str(tmp_path / "afile" / "b.json"), *FAST_ARGS]) == 1
    assert "is a file. Choose another output path" in capsys.readouterr().err
    same = str(tmp_path / "b.json")
    assert main(["bench", art, "--json", same, "--md", same, *FAST_ARGS]) == 1
    assert "must name different files" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--threads", "100000"], "threads must be between 1 and"),
        (["--seed", "-1"], "seed must be >= 0"),
        (["--scenario", "server", "--latency-bound-ms", "-1"], "latency_bound_ms must be > 0"),
        (["--timeout", "0"], "timeout_s must be > 0"),
    ],
)
def test_bench_rejects_bad_numbers_before_running(bench_artifacts, capsys, flags, message):
    art = str(bench_artifacts / "tflite-fp32.tflite")
    assert main(["bench", art, "--in-process", *FAST_ARGS, *flags]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_server_scenario_without_warm_up_still_runs(bench_artifacts, capsys):
    """The server defaults need a warm-up median: --warmup 0 gets a short one anyway."""
    art = str(bench_artifacts / "tflite-fp32.tflite")
    flags = ["--scenario", "server", "--warmup", "0", "--warmup-seconds", "0", "--json", "-"]
    assert main(["bench", art, "--in-process", *FAST_ARGS, *flags]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["error"] is None and row["latency_ms"]["p99"] > 0


def test_bench_exits_1_when_a_configuration_fails(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    assert main(["bench", str(bad), "--in-process", *FAST_ARGS]) == 1
    assert "1 of 1 configurations failed" in capsys.readouterr().err


def test_bench_missing_artifact_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "nope.tflite")]) == 1
    assert "nope.tflite does not exist. Expected a .tflite/.onnx file" in capsys.readouterr().err


def test_pin_and_provider_parsing():
    assert parse_pin("0,2-3") == (0, 2, 3)
    assert parse_pin(None) is None
    with pytest.raises(ConfigError, match="--pin expects CPU numbers"):
        parse_pin("first")
    assert parse_provider("CPUExecutionProvider") == "CPUExecutionProvider"
    assert parse_provider("CUDAExecutionProvider:device_id=0;arena=x") == (
        "CUDAExecutionProvider",
        {"device_id": "0", "arena": "x"},
    )
    with pytest.raises(ConfigError, match="KEY=VALUE separated by ';'"):
        parse_provider("CUDAExecutionProvider:device_id")


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="--pin is Linux-only")
def test_pin_runs_on_the_given_cpu(bench_artifacts, capsys, tmp_path, monkeypatch):
    # The measured child reports the CPUs the OS lets it use (a probe injected from the tests).
    plugins = Path(__file__).parent / "child_plugins"
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])
    )
    log = tmp_path / "affinity.jsonl"
    monkeypatch.setenv("EDGESHIP_TEST_AFFINITY_LOG", str(log))
    art = str(bench_artifacts / "tflite-fp32.tflite")
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[-1]  # a CPU this process may use; not the first, when there are several
    assert main(["bench", art, "--pin", str(cpu), "--json", "-", *FAST_ARGS]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["pin"] == [cpu] and row["error"] is None
    pinned = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["cpus"] for e in pinned] == [[cpu]] and pinned[0]["pid"] != os.getpid()
    log.unlink()
    assert main(["bench", art, "--json", "-", *FAST_ARGS]) == 0  # unpinned: every allowed CPU
    assert [json.loads(line)["cpus"] for line in log.read_text().splitlines()] == [allowed]


def _doc(p50_scale):
    samples = [1.0, 1.0, 1.0, 1.01, 0.99] * 20
    lat = summarize([s * p50_scale for s in samples])
    row = {
        "artifact": "m.tflite",
        "sha256": None,
        "variant": "m",
        "backend": "litert",
        "backend_version": None,
        "delegate": None,
        "threads": 1,
        "batch": 1,
        "scenario": "single-stream",
        "latency_ms": lat,
        "throughput_ips": 1000 / lat["mean"],
        "load_ms": 1.0,
        "first_ms": 1.0,
        "peak_rss_mb": 1.0,
        "size_bytes": 1,
        "accuracy": 0.9,
        "error": None,
    }
    return make_results({}, [row])


def test_compare_exits_1_on_a_regression_and_0_without(tmp_path, capsys):
    base = save_results(tmp_path / "base.json", _doc(1.0))
    same = save_results(tmp_path / "same.json", _doc(1.01))
    slow = save_results(tmp_path / "slow.json", _doc(1.5))
    assert main(["compare", str(base), str(same), "--fail-on", "p50:5%"]) == 0
    assert main(["compare", str(base), str(slow), "--fail-on", "p50:5%,accuracy:-0.5"]) == 1
    captured = capsys.readouterr()
    assert "regression: m/litert t1 b1 p50 1 -> 1.5 breaks p50:+5%" in captured.err
    assert main(["compare", str(base), str(slow), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["metrics"]["p50"][
        "delta_pct"
    ] == pytest.approx(50.0)


def test_compare_rejects_a_bad_expression(tmp_path, capsys):
    base = save_results(tmp_path / "base.json", _doc(1.0))
    assert main(["compare", str(base), str(base), "--fail-on", "p50>5"]) == 1
    assert "Bad --fail-on item 'p50>5'" in capsys.readouterr().err


def test_report_writes_html_and_refuses_to_overwrite(tmp_path, capsys):
    base = save_results(tmp_path / "base.json", _doc(1.0))
    out = tmp_path / "report.html"
    assert main(["report", str(base), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 1
    assert out.read_text().startswith("<!doctype html>")
    assert main(["report", str(base), "--out", str(out)]) == 1
    assert "pass --force" in capsys.readouterr().err


def test_bench_server_scenario_at_a_target_qps(bench_artifacts, capsys):
    art = str(bench_artifacts / "onnx-fp32.onnx")
    args = ["--scenario", "server", "--target-qps", "200", "--latency-bound-ms", "100"]
    assert main(["bench", art, "--in-process", "--json", "-", *args, *FAST_ARGS]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["scenario"] == "server" and row["target_qps"] == 200.0
    assert row["latency_bound_ms"] == 100.0 and row["headline"]["metric"] == "p99"
    assert row["achieved_qps"] > 0 and isinstance(row["meets_bound"], bool)
