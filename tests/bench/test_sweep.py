"""Sweeps on real artifacts and real backends (tiny models, short stopping rules)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from edgeship.bench import BenchConfig, LiveTable, load_results, plan, run_sweep, save_results
from edgeship.bench.records import BenchResults
from edgeship.bench.storage import LATENCY_KEYS, REQUIRED_ROW_KEYS, SCHEMA
from edgeship.errors import ConfigError

from .typed_rows import problems


def _arts(d):
    return [str(d / "tflite-fp32.tflite"), str(d / "tflite-int8.tflite"), str(d / "onnx-fp32.onnx")]


def test_plan_runs_each_artifact_on_the_backends_of_its_format(tmp_path):
    arts = [str(tmp_path / "a.tflite"), str(tmp_path / "b.onnx")]
    specs, skipped = plan(
        BenchConfig(
            artifacts=arts,
            backends=["litert", "onnxruntime"],
            threads=[1, 2],
            batch=[1, 4],
            baselines=["raw", "keras:m.keras"],
        )
    )
    assert skipped == []
    edgeship = [
        (s.artifact[-8:], s.backend, s.threads, s.batch) for s in specs if s.kind == "edgeship"
    ]
    assert len(edgeship) == 8  # 2 artifacts x 1 matching backend x 2 threads x 2 batch
    assert {b for _, b, _, _ in edgeship} == {"litert", "onnxruntime"}
    assert sum(s.kind == "raw" for s in specs) == 8
    assert [(s.threads, s.batch) for s in specs if s.kind == "keras"] == [
        (1, 1),
        (1, 4),
        (2, 1),
        (2, 4),
    ]


def test_plan_gives_the_accelerator_to_edgeship_rows_only(tmp_path):
    specs, _ = plan(
        BenchConfig(
            artifacts=[str(tmp_path / "a.onnx")],
            backends=["openvino", "auto"],
            baselines=["raw"],
            device="GPU",
        )
    )
    ours = [(s.backend, s.device, s.delegate_label) for s in specs if s.kind == "edgeship"]
    assert ours == [("openvino", "GPU", "device GPU"), ("auto", "GPU", "device GPU")]
    raw = [s for s in specs if s.kind == "raw"]
    assert [(s.backend, s.device) for s in raw] == [("openvino", None), ("onnxruntime", None)]


def test_plan_records_an_artifact_no_backend_can_run(tmp_path):
    specs, skipped = plan(BenchConfig(artifacts=[str(tmp_path / "a.onnx")], backends=["litert"]))
    assert specs == []
    assert skipped[0]["error"] == (
        "none of the backends ['litert'] runs .onnx files; add one of ['onnxruntime', 'openvino']"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"artifacts": []}, "Nothing to benchmark"),
        ({"artifacts": "a.tflite"}, "artifacts must be a list or tuple. Got the string 'a.tflite'"),
        ({"artifacts": ["model.pb"]}, "expected a .tflite or .onnx artifact. Got suffix '.pb'"),
        ({"artifacts": ["a.tflite"], "scenario": "burst"}, "Unknown scenario 'burst'"),
        (
            {"artifacts": ["a.tflite"], "baselines": ["tf"]},
            "Unknown baseline 'tf'. Expected 'raw' or 'keras:MODEL_PATH'",
        ),
        ({"artifacts": ["a.tflite"], "min_runs": -2}, "min_runs must be an integer >= 0. Got: -2"),
        ({"artifacts": ["a.tflite"], "threads": []}, "must each hold at least one value"),
        ({"artifacts": ["a.tflite"], "threads": ("2",)}, "expects an integer or nothing"),
        ({"artifacts": ["a.tflite"], "threads": 2}, "threads must be a list or tuple. Got: 2"),
        ({"artifacts": ["a.tflite"], "timeout_s": "5"}, "timeout_s expects a finite number"),
        ({"artifacts": ["a.tflite"], "min_seconds": float("inf")}, "min_seconds expects a finite"),
        ({"artifacts": ["a.tflite"], "seed": 1.5}, "seed expects an integer"),
    ],
)
def test_bad_configs_are_rejected(kwargs, message):
    with pytest.raises(
        ConfigError, match=message.replace(".", r"\.").replace("[", r"\[").replace("(", r"\(")
    ):
        BenchConfig(**kwargs)


def test_isolated_sweep_returns_schema_rows_with_accuracy(
    bench_artifacts, expected, fast, tmp_path
):
    lines = io.StringIO()
    results = run_sweep(
        BenchConfig(
            artifacts=_arts(bench_artifacts),
            backends=["litert", "onnxruntime"],
            threads=[1],
            eval_data=str(bench_artifacts / "eval.npz"),
            baselines=["raw"],
            **fast,
        ),
        progress=LiveTable(lines),
    )
    assert results["schema"] == SCHEMA
    rows = results["results"]
    assert [r["variant"] for r in rows] == [
        "tflite-fp32",
        "raw:tflite-fp32",
        "tflite-int8",
        "raw:tflite-int8",
        "onnx-fp32",
        "raw:onnx-fp32",
    ]
    for row in rows:
        assert row["error"] is None, row["error"]
        assert set(REQUIRED_ROW_KEYS) <= set(row)
        assert set(LATENCY_KEYS) <= set(row["latency_ms"])
        assert row["latency_ms"]["n"] >= fast["min_runs"]
        assert 0 < row["latency_ms"]["min"] <= row["latency_ms"]["p50"] <= row["latency_ms"]["max"]
        assert row["throughput_ips"] > 0 and row["load_ms"] > 0 and row["first_ms"] > 0
        assert row["peak_rss_mb"] > 10 and row["size_bytes"] > 1000 and len(row["sha256"]) == 64
        assert row["threads"] == 1 and row["batch"] == 1 and row["scenario"] == "single-stream"
    by = {r["variant"]: r for r in rows}
    assert by["tflite-fp32"]["backend"] == "litert" and by["onnx-fp32"]["backend"] == "onnxruntime"
    assert by["tflite-fp32"]["backend_version"]
    # fp32 artifacts match Keras exactly on 200 digits; int8 stays within 5 points.
    assert by["tflite-fp32"]["accuracy"] == pytest.approx(expected["keras_accuracy"])
    assert by["onnx-fp32"]["accuracy"] == pytest.approx(expected["keras_accuracy"])
    assert abs(by["tflite-int8"]["accuracy"] - expected["keras_accuracy"]) < 0.05
    assert by["raw:tflite-fp32"]["accuracy"] is None
    # Where the ops ran: LiteRT's default XNNPACK delegate takes some, ONNX Runtime the CPU EP.
    placed = by["tflite-fp32"]["op_placement"]
    assert placed["delegated"] + placed["cpu"] == placed["ops"] and placed["partitions"] >= 1
    assert set(by["onnx-fp32"]["op_placement"]) == {"CPUExecutionProvider"}
    assert by["raw:tflite-fp32"]["op_placement"] is None
    env = results["env"]
    assert env["cores"] >= 1 and env["python"] and env["timer"]["observed_resolution_ns"] > 0
    assert 0 < env["timer"]["loop_floor_ns"] < 100_000
    assert "numpy" in env["versions"]
    assert lines.getvalue().count("\n") == len(rows) + 1  # header + one line per row
    path = save_results(tmp_path / "bench.json", results)
    assert load_results(path)["results"][0]["variant"] == "tflite-fp32"


def test_in_process_sweep_batches_threads_and_scenarios(bench_artifacts, fast):
    art = [str(bench_artifacts / "tflite-fp32.tflite")]
    results = run_sweep(
        BenchConfig(
            artifacts=art, backends=["litert"], threads=[1, 2], batch=[4], isolate=False, **fast
        )
    )
    rows = results["results"]
    assert [(r["threads"], r["batch"]) for r in rows] == [(1, 4), (2, 4)]
    assert all(r["throughput_sps"] == pytest.approx(4 * r["throughput_ips"]) for r in rows)
    off = run_sweep(
        BenchConfig(artifacts=art, scenario="offline", batch=[8], isolate=False, **fast)
    )
    assert off["results"][0]["headline"]["metric"] == "throughput_sps"
    multi = run_sweep(
        BenchConfig(artifacts=art, scenario="multi-stream", batch=[2], isolate=False, **fast)
    )
    assert multi["results"][0]["headline"] == {
        "metric": "p99",
        "value": multi["results"][0]["latency_ms"]["p99"],
    }


def test_server_scenario_finds_a_max_qps_on_a_real_engine(bench_artifacts, fast):
    art = [str(bench_artifacts / "onnx-fp32.onnx")]
    results = run_sweep(
        BenchConfig(
            artifacts=art,
            scenario="server",
            find_max_qps=True,
            latency_bound_ms=50.0,
            isolate=False,
            **fast,
        )
    )
    row = results["results"][0]
    assert row["error"] is None
    assert row["latency_bound_ms"] == 50.0
    # a model of microseconds meets a 50 ms p99 at some probed rate, even on a loaded machine
    passed = [p["qps"] for p in row["probes"] if p["meets"]]
    assert passed and row["max_qps"] == max(passed) > 0, row["probes"]
    assert all(p["p99_ms"] <= 50.0 for p in row["probes"] if p["meets"])
    assert row["probes"] and row["headline"]["metric"] == "p99"


def test_a_broken_artifact_fails_its_row_not_the_sweep(bench_artifacts, fast, tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\x00" * 64)
    results = run_sweep(
        BenchConfig(artifacts=[str(bad), str(bench_artifacts / "tflite-fp32.tflite")], **fast)
    )
    first, second = results["results"]
    assert first["variant"] == "broken" and first["error"] and first["latency_ms"] is None
    assert second["error"] is None
    assert any("broken on" in w and "failed" in w for w in results["warnings"])


def test_cold_start_times_fresh_processes(bench_artifacts, fast):
    results = run_sweep(
        BenchConfig(artifacts=[str(bench_artifacts / "onnx-fp32.onnx")], cold=2, **fast)
    )
    cold = results["results"][0]["cold_ms"]
    assert cold["n"] == 2
    assert 0 < cold["min"] <= cold["p50"] <= cold["max"]


@pytest.mark.slow
def test_keras_baseline_runs_in_its_own_process(bench_artifacts, fast):
    results = run_sweep(
        BenchConfig(
            artifacts=[str(bench_artifacts / "tflite-fp32.tflite")],
            baselines=[f"keras:{bench_artifacts / 'model.keras'}"],
            eval_data=str(bench_artifacts / "eval.npz"),
            isolate=False,
            **fast,
        )
    )
    rows = {r["variant"]: r for r in results["results"]}
    assert set(rows) == {"tflite-fp32", "keras:predict", "keras:call"}
    assert problems(results, BenchResults, "results") == []  # Keras rows are typed rows too
    for name in ("keras:predict", "keras:call"):
        assert rows[name]["error"] is None, rows[name]["error"]
        assert rows[name]["backend"] == "keras" and rows[name]["latency_ms"]["n"] >= 5
    for name in ("keras:predict", "keras:call"):  # one model, one accuracy, both rows
        assert rows[name]["accuracy"] == pytest.approx(rows["tflite-fp32"]["accuracy"])


def test_a_sweep_never_imports_tensorflow(bench_artifacts):
    code = (
        "import sys\n"
        "from edgeship.bench import BenchConfig, run_sweep\n"
        f"run_sweep(BenchConfig(artifacts=[{str(bench_artifacts / 'tflite-fp32.tflite')!r}], "
        "isolate=False, min_runs=3, min_seconds=0.01, warmup_seconds=0.0))\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_run_spec_round_trips_through_json_and_rejects_unknown_keys():
    import json

    from edgeship.bench.spec import RunSpec

    spec = RunSpec(
        "edgeship",
        "m.onnx",
        "onnxruntime",
        2,
        4,
        providers=(("CUDAExecutionProvider", {"device_id": "0"}), "CPUExecutionProvider"),
        pin=(0, 1),
    )
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.delegate_label == "CUDAExecutionProvider+CPUExecutionProvider"
    with pytest.raises(ConfigError, match=r"Unknown run settings \['speed'\]"):
        RunSpec.from_dict({**spec.to_dict(), "speed": 1})


def test_two_inputs_two_outputs_on_synthetic_data(bench_artifacts, fast):
    results = run_sweep(
        BenchConfig(
            artifacts=[str(bench_artifacts / "multi" / "two-io.tflite")],
            baselines=["raw"],
            isolate=False,
            **fast,
        )
    )
    rows = {r["variant"]: r for r in results["results"]}
    assert set(rows) == {"two-io", "raw:two-io"}
    assert all(r["error"] is None and r["latency_ms"]["n"] >= 5 for r in rows.values())
    assert rows["two-io"]["accuracy"] is None  # no labels, no accuracy


def test_a_configuration_past_its_time_limit_is_an_error_row(bench_artifacts):
    from edgeship.bench.isolate import run_isolated
    from edgeship.bench.spec import RunSpec

    spec = RunSpec("edgeship", str(bench_artifacts / "tflite-fp32.tflite"))
    [row] = run_isolated(spec, timeout_s=0.05)
    assert row["error"] == "the benchmark process timed out after 0.05 s"
    assert row["variant"] == "tflite-fp32" and row["latency_ms"] is None


def test_a_killed_process_is_described_by_its_signal():
    from edgeship.bench.isolate import _describe_exit

    assert _describe_exit(-11) == "the benchmark process was killed by SIGSEGV"
    assert _describe_exit(-6) == "the benchmark process was killed by SIGABRT"
    assert _describe_exit(3) == "the benchmark process exited with status 3"
