"""Fleet benchmarking on a real local Dask cluster: a scheduler and two labelled workers.

cpu-a offers every backend; cpu-b offers only LiteRT, so ONNX rows there must fail with a
clear message while every other row is measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cloudpickle
import pytest

from edgeship.bench import BenchConfig, load_results
from edgeship.errors import ConfigError, IntegrityError
from edgeship.fleet import FleetTarget, Shipment, check_label, run_fleet
from edgeship.fleet.cluster import check_address, connect, devices
from edgeship.fleet.local import LocalFleet, free_port

from . import fleet_tamper

FAST = {"min_runs": 5, "min_seconds": 0.02, "warmup_runs": 1, "warmup_seconds": 0.01}
FAST_ARGS = ["--runs", "5", "--min-seconds", "0.02", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def fleet():
    with LocalFleet(["cpu-a", "cpu-b"], backends={"cpu-b": ["litert"]}) as running:
        yield running


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeship.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )


def test_bench_runs_on_each_labelled_device_and_fails_only_the_bad_rows(
    fleet, bench_artifacts, tmp_path
):
    out = tmp_path / "fleet.json"
    int8, onnx = bench_artifacts / "tflite-int8.tflite", bench_artifacts / "onnx-fp32.onnx"
    proc = _cli(
        "bench", str(int8), str(onnx), "--cluster", fleet.address,
        "--device", "cpu-a,cpu-b,cpu-z", "--eval", str(bench_artifacts / "eval.npz"),
        "--json", str(out), *FAST_ARGS,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "3 of 6 configurations failed" in proc.stderr
    rows = {(r["device"], r["variant"]): r for r in load_results(out)["results"]}
    assert len(rows) == 6
    for key in [("cpu-a", "tflite-int8"), ("cpu-a", "onnx-fp32"), ("cpu-b", "tflite-int8")]:
        row = rows[key]
        assert row["error"] is None and row["latency_ms"]["p50"] > 0, row
        assert row["isolated"] is True and row["accuracy"] > 0.5
        assert row["artifact"] == str(int8 if key[1] == "tflite-int8" else onnx)
        env = row["device_env"]
        assert env["cores"] >= 1 and env["python"] and env["cpu"] and env["os"]
        assert "ai-edge-litert" in env["versions"]
    # the same artifact on both devices: same file, same model, same accuracy
    assert rows["cpu-a", "tflite-int8"]["sha256"] == rows["cpu-b", "tflite-int8"]["sha256"]
    assert rows["cpu-a", "tflite-int8"]["accuracy"] == rows["cpu-b", "tflite-int8"]["accuracy"]
    missing = rows["cpu-b", "onnx-fp32"]["error"]
    assert "has no backend for this row: expected onnxruntime or openvino, it has litert" in missing
    assert "pip install 'edgeship[onnx,fleet]'" in missing
    for variant in ("tflite-int8", "onnx-fp32"):
        unknown = rows["cpu-z", variant]["error"]
        assert "no worker advertises device 'cpu-z'" in unknown and "cpu-a, cpu-b" in unknown
    doc = json.loads(out.read_text())
    assert set(doc["env"]["devices"]) == {"cpu-a", "cpu-b"}
    assert doc["config"]["devices"] == ["cpu-a", "cpu-b", "cpu-z"]
    # one progress bar across devices: 6 numbered lines, each naming its device
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("[")]
    assert len(lines) == 6 and lines[-1].startswith("[  6/6")
    assert {ln.split("]")[1].split(":")[0].strip() for ln in lines} == {"cpu-a", "cpu-b", "cpu-z"}


def test_report_and_compare_group_by_device(fleet, bench_artifacts, tmp_path):
    out = tmp_path / "fleet.json"
    art = str(bench_artifacts / "tflite-fp32.tflite")
    proc = _cli(
        "bench", art, "--cluster", fleet.address, "--device", "cpu-a,cpu-b",
        "--json", str(out), "--quiet", *FAST_ARGS,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "| device |" in proc.stdout and "| cpu-b | tflite-fp32 |" in proc.stdout
    html = tmp_path / "report.html"
    assert _cli("report", str(out), "--out", str(html)).returncode == 0
    text = html.read_text()
    assert "<th>device</th>" in text and "Devices side by side" in text
    assert "<td>cpu-a</td>" in text and "<td>cpu-b</td>" in text
    cmp = _cli(
        "compare", str(out), str(out), "--base-device", "cpu-a", "--new-device", "cpu-b",
        "--json",
    )  # fmt: skip
    assert cmp.returncode == 0, cmp.stderr
    result = json.loads(cmp.stdout)
    assert len(result["rows"]) == 1 and result["rows"][0]["key"]["variant"] == "tflite-fp32"
    assert result["base_device"] == "cpu-a" and result["new_device"] == "cpu-b"
    wrong = _cli("compare", str(out), str(out), "--base-device", "cpu-z", "--new-device", "cpu-b")
    assert wrong.returncode == 1
    assert "no measured row on device 'cpu-z'. Expected one of: cpu-a, cpu-b" in wrong.stderr


def test_an_artifact_changed_in_transit_fails_its_rows_only(fleet, bench_artifacts):
    cloudpickle.register_pickle_by_value(fleet_tamper)
    client = connect(fleet.address)
    try:
        client.register_plugin(fleet_tamper.FlipByte("cpu-b"), name="flip-byte")
        config = BenchConfig(artifacts=(str(bench_artifacts / "tflite-int8.tflite"),), **FAST)
        results = run_fleet(config, FleetTarget(fleet.address, ("cpu-a", "cpu-b")))
    finally:
        client.unregister_worker_plugin("flip-byte")
        client.close()
        cloudpickle.unregister_pickle_by_value(fleet_tamper)
    rows = {r["device"]: r for r in results["results"]}
    assert rows["cpu-a"]["error"] is None and rows["cpu-a"]["latency_ms"]["p50"] > 0
    error = rows["cpu-b"]["error"]
    assert error.startswith("IntegrityError: tflite-int8.tflite changed in transit"), error
    assert "expected " + rows["cpu-a"]["sha256"] in error


def test_workers_never_import_tensorflow(fleet, bench_artifacts):
    config = BenchConfig(artifacts=(str(bench_artifacts / "onnx-fp32.onnx"),), **FAST)
    assert run_fleet(config, FleetTarget(fleet.address, ("cpu-a",)))["results"][0]["error"] is None
    client = connect(fleet.address)
    try:
        heavy = client.run(
            lambda: [m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules]
        )
    finally:
        client.close()
    assert len(heavy) == 2 and all(mods == [] for mods in heavy.values())


def test_an_unreachable_cluster_is_a_clear_error_within_the_timeout(bench_artifacts, tmp_path):
    out = tmp_path / "never.json"
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = _cli(
        "bench", str(bench_artifacts / "tflite-int8.tflite"), "--cluster", address,
        "--device", "cpu-a", "--connect-timeout", "2", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 1 and time.monotonic() - started < 60
    assert f"Cannot reach the cluster at {address} within 2 s" in proc.stderr
    assert "edgeship worker --cluster" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_bad_fleet_settings_are_typed_errors(bench_artifacts, tmp_path):
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        check_address("not an address")
    assert check_address("10.0.0.2:8786") == "tcp://10.0.0.2:8786"
    with pytest.raises(ConfigError, match="device label"):
        check_label("pi 5")
    with pytest.raises(ConfigError, match="non-empty list"):
        FleetTarget("tcp://127.0.0.1:1", ())
    proc = _cli("bench", str(bench_artifacts / "tflite-int8.tflite"), "--device", "cpu-a")
    assert proc.returncode == 1 and "--cluster and --device go together" in proc.stderr
    proc = _cli(
        "bench", str(bench_artifacts / "tflite-int8.tflite"), "--cluster", "tcp://127.0.0.1:1",
        "--device", "cpu-a", "--in-process",
    )  # fmt: skip
    assert proc.returncode == 1 and "--in-process cannot go with --cluster" in proc.stderr
    config = BenchConfig(
        artifacts=(str(bench_artifacts / "tflite-int8.tflite"),),
        baselines=(f"keras:{bench_artifacts / 'model.keras'}",),
    )
    with pytest.raises(ConfigError, match="Keras baselines need TensorFlow on the device"):
        run_fleet(config, FleetTarget("tcp://127.0.0.1:1", ("cpu-a",)))
    worker = _cli(
        "worker", "--cluster", f"tcp://127.0.0.1:{free_port()}", "--device", "cpu-a",
        "--connect-timeout", "1",
    )  # fmt: skip
    assert worker.returncode == 1 and "Cannot join the cluster" in worker.stderr
    assert "Traceback" not in worker.stderr


def test_a_shipment_refuses_bytes_that_changed(tmp_path):
    src = tmp_path / "m.tflite"
    src.write_bytes(b"\x00model-bytes")
    ship = Shipment.of(src)
    assert ship.unpack(tmp_path).read_bytes() == b"\x00model-bytes"
    bad = Shipment(ship.name, ship.sha256, b"\x01model-bytes")
    (tmp_path / "dest").mkdir()
    with pytest.raises(IntegrityError, match="changed in transit"):
        bad.unpack(tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_devices_lists_labels_and_backends(fleet):
    client = connect(fleet.address)
    try:
        found = devices(client)
    finally:
        client.close()
    assert set(found) == {"cpu-a", "cpu-b"} and found["cpu-b"].backends == ("litert",)
    assert "onnxruntime" in found["cpu-a"].backends


NP2_PYTHON = os.environ.get("EDGESHIP_NUMPY2_PYTHON")


def _has_distributed(python: str | None) -> bool:
    if not python:
        return False
    probe = "import importlib.util, sys; sys.exit(not importlib.util.find_spec('distributed'))"
    return subprocess.run([python, "-c", probe], timeout=60).returncode == 0


@pytest.mark.skipif(
    not _has_distributed(NP2_PYTHON),
    reason="set EDGESHIP_NUMPY2_PYTHON to a device-like Python with '.[litert,onnx,fleet]'",
)
def test_a_small_device_install_serves_as_a_worker(bench_artifacts):
    """A worker in an environment with numpy 2, the backends and Dask, but no TensorFlow."""
    with LocalFleet(["edge"], pythons={"edge": str(NP2_PYTHON)}) as small:
        config = BenchConfig(artifacts=(str(bench_artifacts / "tflite-int8.tflite"),), **FAST)
        row = run_fleet(config, FleetTarget(small.address, ("edge",)))["results"][0]
    assert row["error"] is None and row["latency_ms"]["p50"] > 0
    versions = row["device_env"]["versions"]
    assert versions["numpy"].startswith("2.") and "ai-edge-litert" in versions
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(versions)
