"""`edgeship pipeline --cluster --device`: bench on the devices, recommend per device."""

from __future__ import annotations

import json

import pytest

from edgeship.errors import ConfigError
from edgeship.fleet.local import LocalFleet
from edgeship.pipeline import PipelineConfig, run_pipeline


def test_pipeline_benches_on_each_device_and_recommends_per_device(digits_model_dir, tmp_path):
    with LocalFleet(["cpu-a", "cpu-b"]) as fleet:
        config = PipelineConfig(
            out=str(tmp_path / "run"),
            model=str(digits_model_dir / "model.keras"),
            variants=("tflite-int8",),
            backends=("litert",),
            threads=(1,),
            bench_min_seconds=0.05,
            bench_runs=20,
            bench_cold=0,
            cluster=fleet.address,
            devices=("cpu-a", "cpu-b"),
        )
        results = run_pipeline(config)
    bench = json.loads((tmp_path / "run" / "bench.json").read_text())
    assert sorted(r["device"] for r in bench["results"]) == ["cpu-a", "cpu-b"]
    assert all(r["error"] is None for r in bench["results"])
    assert not any(r.get("kind") == "keras" for r in bench["results"])  # no TF on devices
    per_device = results["recommendations"]
    assert list(per_device) == ["cpu-a", "cpu-b"]
    assert all(rec["variant"] == "tflite-int8" for rec in per_device.values())
    report = (tmp_path / "run" / "report.md").read_text()
    assert "On cpu-a: ship tflite-int8 on litert" in report
    assert "On cpu-b: ship tflite-int8 on litert" in report
    assert f"--cluster {fleet.address} --device cpu-a,cpu-b" in report


def test_pipeline_cluster_settings_are_checked_before_any_work():
    with pytest.raises(ConfigError, match="cluster and devices go together"):
        PipelineConfig(cluster="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        PipelineConfig(cluster="nowhere", devices=("cpu-a",))
    with pytest.raises(ConfigError, match="device label"):
        PipelineConfig(cluster="tcp://127.0.0.1:8786", devices=("bad label",))
