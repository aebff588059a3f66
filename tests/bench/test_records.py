"""The typed bench hand-over: every row a sweep writes matches ``BenchRow``, and the column
definitions read only keys a row declares."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest

from edgeship.bench import BenchConfig, plan, run_sweep
from edgeship.bench.fields import FIELDS
from edgeship.bench.isolate import error_row
from edgeship.bench.records import (
    BenchResults,
    BenchRow,
    DeviceEnv,
    LatencyKey,
    LatencySummary,
    RowKey,
    RunSpecDict,
    latency_keys,
    row_keys,
)
from edgeship.bench.spec import RunSpec
from edgeship.bench.storage import CSV_COLUMNS, LATENCY_KEYS, REQUIRED_ROW_KEYS
from edgeship.fleet.device import device_environment, tag

from .conftest import FAST
from .typed_rows import problems


@pytest.fixture(scope="module")
def sweeps(bench_artifacts, tmp_path_factory) -> list[BenchResults]:
    """A tiny isolated sweep (a good artifact, a broken one, one no backend runs; raw
    baselines, one cold start, accuracy) and an in-process server sweep with --find-max-qps."""
    bad = tmp_path_factory.mktemp("records") / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\x00" * 64)
    isolated = run_sweep(
        BenchConfig(
            artifacts=[
                str(bench_artifacts / "tflite-fp32.tflite"),
                str(bad),
                str(bench_artifacts / "onnx-fp32.onnx"),
            ],
            backends=["litert"],
            baselines=["raw"],
            cold=1,
            eval_data=str(bench_artifacts / "eval.npz"),
            **FAST,
        )
    )
    server = run_sweep(
        BenchConfig(
            artifacts=[str(bench_artifacts / "onnx-fp32.onnx")],
            scenario="server",
            find_max_qps=True,
            latency_bound_ms=50.0,
            isolate=False,
            **FAST,
        )
    )
    return [isolated, server]


def test_every_row_and_document_a_sweep_writes_matches_the_typed_records(sweeps):
    rows = [row for doc in sweeps for row in doc["results"]]
    by = {(r["variant"], r.get("isolated")): r for r in rows}
    good, raw = by["tflite-fp32", True], by["raw:tflite-fp32", True]
    broken, skipped = by["broken", True], by["onnx-fp32", None]
    server = by["onnx-fp32", False]
    # the kinds of row the check below covers: measured, raw, cold-started, failed in its
    # child (with a traceback), skipped before running, and a server scenario
    assert good["error"] is None and good["accuracy"] is not None and good["op_placement"]
    assert good["cold_ms"]["n"] == 1 and good["cold_errors"] == []
    assert raw["kind"] == "raw" and raw["error"] is None
    assert broken["error"] and broken["error_detail"] and broken["latency_ms"] is None
    assert broken["cold_ms"] is None and len(broken["cold_errors"]) == 1
    assert skipped["error"] and "isolated" not in skipped
    assert server["max_qps"] and server["probes"] and server["meets_bound"] is not None
    for doc in sweeps:
        assert problems(doc, BenchResults, "results") == []
        for row in doc["results"]:
            assert set(REQUIRED_ROW_KEYS) <= set(row), row["variant"]


def test_an_unreadable_spec_error_row_and_a_fleet_row_match_the_row_type(sweeps):
    spec = RunSpec("edgeship", "m.tflite").to_dict()
    spec["scenario"] = "bogus"  # RunSpec.from_dict refuses it: the row copies the spec's fields
    fallback = error_row(spec, "ConfigError: bad spec")
    assert fallback["variant"] == "m" and fallback["error"] == "ConfigError: bad spec"
    assert fallback["scenario"] == "bogus" and "sha256" not in fallback
    assert problems(fallback, BenchRow, "fallback") == []
    fleet_rows = tag([dict(sweeps[1]["results"][0])], "pi-4", device_environment())
    assert fleet_rows[0]["device"] == "pi-4" and "hostname" in fleet_rows[0]["device_env"]
    assert problems(fleet_rows[0], BenchRow, "fleet") == []
    assert problems(device_environment(), DeviceEnv, "device_env") == []


def test_the_check_rejects_an_undeclared_key_a_missing_one_and_a_wrong_type(sweeps):
    row = dict(sweeps[1]["results"][0])
    assert problems(row, BenchRow) == []
    assert problems(dict(row, gpu_ms=1.0), BenchRow) == [".gpu_ms: key not declared in BenchRow"]
    del row["variant"]
    assert problems(row, BenchRow) == [".variant: required key missing"]
    row["variant"], row["threads"] = "x", "1"
    assert problems(row, BenchRow) == [".threads: expected int, got '1'"]
    latency = dict(row["latency_ms"], n=2.5)
    assert problems(latency, LatencySummary) == [".n: expected int, got 2.5"]


def test_the_key_literals_name_exactly_the_declared_keys():
    assert set(get_args(RowKey)) == row_keys() == set(get_type_hints(BenchRow))
    assert len(get_args(RowKey)) == len(row_keys())
    assert latency_keys() == get_args(LatencyKey) == tuple(get_type_hints(LatencySummary))


def test_columns_and_stored_keys_are_keys_a_row_declares():
    readable = row_keys() | set(latency_keys())
    assert [f.key for f in FIELDS if f.key not in readable] == []
    assert set(REQUIRED_ROW_KEYS) <= row_keys()
    assert set(LATENCY_KEYS) <= set(latency_keys())
    assert [c for c in CSV_COLUMNS if c not in readable] == ["cold_p50_ms"]  # derived


def test_columns_read_their_values_from_a_measured_row(sweeps):
    row = next(r for r in sweeps[0]["results"] if r["variant"] == "tflite-fp32")
    always = [f.key for f in FIELDS if not f.optional and f.get(row) is None]
    assert always == ["delegate"]  # plain CPU; the raw twin gives "vs raw µs" its value


def test_a_spec_crosses_to_its_child_as_a_run_spec_dict(bench_artifacts):
    specs, _ = plan(
        BenchConfig(
            artifacts=[str(bench_artifacts / "onnx-fp32.onnx")],
            backends=["onnxruntime"],
            threads=[1, None],
            providers=["CPUExecutionProvider"],
            pin=[0],
            baselines=["raw"],
            **FAST,
        )
    )
    assert len(specs) == 4
    for spec in specs:
        data = spec.to_dict()
        assert problems(data, RunSpecDict, spec.kind) == []
        assert RunSpec.from_dict(data) == spec
