"""Results files (schema, atomic writes, errors) and reports (Markdown, CSV, HTML)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from edgeship.bench import load_results, merge_results, save_results
from edgeship.bench.plots import pareto_front
from edgeship.bench.report import to_csv, to_markdown, write_report
from edgeship.bench.stats import quantiles, summarize
from edgeship.bench.storage import SCHEMA, make_results
from edgeship.errors import ArtifactExistsError, ConfigError


def _row(variant, p, threads=1, batch=1, acc=0.9, size=1000, **extra):
    samples = [p * f for f in (0.9, 1.0, 1.0, 1.1, 1.3)]
    return {
        "artifact": f"/a/{variant}.tflite",
        "sha256": "0" * 64,
        "variant": variant,
        "kind": "edgeship",
        "backend": "litert",
        "backend_version": "2.3.0",
        "delegate": None,
        "threads": threads,
        "batch": batch,
        "scenario": "single-stream",
        "latency_ms": summarize(samples),
        "latency_quantiles_ms": quantiles(samples),
        "throughput_ips": 1000 / p,
        "throughput_sps": 1000 / p * batch,
        "load_ms": 12.0,
        "first_ms": 0.5,
        "peak_rss_mb": 50.0,
        "size_bytes": size,
        "accuracy": acc,
        "error": None,
        **extra,
    }


ENV = {
    "cpu": "Test CPU",
    "cores": 2,
    "usable_cores": 2,
    "os": "Linux",
    "versions": {"numpy": "1.26.4"},
    "timer": {"observed_resolution_ns": 70},
}


@pytest.fixture
def results():
    rows = [
        _row("tflite-fp32", 1.0, size=9000, acc=0.95),
        _row("tflite-fp32", 0.7, threads=2, size=9000, acc=0.95),
        _row("tflite-int8", 0.5, size=3000, acc=0.94),
        _row("tflite-int8", 0.4, threads=2, size=3000, acc=0.94),
        _row("onnx-fp32", 2.0, size=9000, acc=0.95),
        _row("raw:tflite-int8", 0.45, kind="raw", artifact="/a/tflite-int8.tflite", acc=None),
        {**_row("broken", 1.0), "error": "ModelLoadError: bad file", "latency_ms": None},
    ]
    return make_results(ENV, rows, {"threads": [1, 2]})


def test_save_and_load_round_trip(results, tmp_path):
    path = save_results(tmp_path / "out" / "bench.json", results)
    data = load_results(path)
    assert data["schema"] == SCHEMA and len(data["results"]) == 7
    assert not list(path.parent.glob("*.partial"))


def test_save_refuses_to_overwrite_without_force(results, tmp_path):
    path = save_results(tmp_path / "bench.json", results)
    with pytest.raises(ArtifactExistsError, match="already exists"):
        save_results(path, results, force=False)


def test_make_results_fills_missing_required_keys_with_null():
    doc = make_results({}, [{"variant": "x", "error": "failed early"}])
    assert doc["results"][0]["latency_ms"] is None and doc["results"][0]["sha256"] is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"schema": "other/1", "results": []},
            "Expected schema 'edgeship.bench/1'. Got: 'other/1'",
        ),
        ({"schema": SCHEMA, "results": {}}, "'results' must be a list of rows. Got: dict"),
        ({"schema": SCHEMA, "results": [{"variant": "x"}]}, "result row 0 lacks"),
    ],
)
def test_invalid_documents_are_rejected(doc, message, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_results(path)


def test_missing_results_file_names_the_command(tmp_path):
    with pytest.raises(
        ConfigError, match=re.escape("does not exist. Expected a file from 'edgeship bench --json'")
    ):
        load_results(tmp_path / "nope.json")


def test_merge_keeps_every_row(results):
    assert len(merge_results([results, results])["results"]) == 14


def test_markdown_report_has_table_env_and_failures(results):
    text = to_markdown(results, "Digits")
    assert text.startswith("# Digits")
    assert "CPU: Test CPU (2 logical cores, 2 usable)" in text
    assert "| tflite-int8 | litert | – | – | 2 | 1 | single-stream | 0.4 |" in text
    assert (
        "| tflite-int8 | litert | – | – | 1 | 1 | single-stream | 0.5 | 0.61 | 0.646 | +50.0 |"
        in text
    )
    assert "| raw:tflite-int8 | litert |" in text
    assert "95.00" in text and "8.8" in text  # accuracy % and size KiB
    assert "broken on litert (threads 1): ModelLoadError: bad file" in text


def test_csv_has_one_line_per_row_with_raw_numbers(results):
    lines = to_csv(results).strip().splitlines()
    assert len(lines) == 8
    assert lines[0].startswith("variant,backend,backend_version")
    assert lines[1].split(",")[11] == "1.0"  # p50 of tflite-fp32 t1, unformatted


def test_html_report_is_self_contained_with_plots(results, tmp_path):
    path = write_report(results, tmp_path / "r.html", title="Digits")
    html = path.read_text()
    assert "<table>" in html and "Digits" in html and "http" not in html.replace("https://", "")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 4  # Pareto, distribution, throughput vs threads, size
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)


def test_report_suffix_must_be_known(results, tmp_path):
    with pytest.raises(ConfigError, match=r"Expected a \.html, \.md or \.csv path"):
        write_report(results, tmp_path / "r.pdf")


def test_pareto_front_keeps_only_undominated_points():
    # (latency, -accuracy, size): all lower-is-better
    pts = [
        (1.0, -95.0, 9000),
        (0.5, -94.0, 3000),
        (2.0, -95.0, 9000),
        (0.5, -93.0, 3000),
        (0.4, -90.0, 5000),
        (1.0, -95.0, 9000),
    ]
    assert pareto_front(pts) == [0, 1, 4, 5]
    assert pareto_front([(lat, acc) for lat, acc, _ in pts]) == [0, 1, 4, 5]


def test_op_placement_reads_as_text():
    from edgeship.bench.report import placement_text

    tflite = {"ops": 7, "delegated": 3, "cpu": 4, "partitions": 2}
    assert placement_text(tflite) == "3/7 delegated (2 partitions)"
    onnx = {"CUDAExecutionProvider": 40, "CPUExecutionProvider": 2}
    assert placement_text(onnx) == "CUDA 40, CPU 2"


def test_top1_accuracy_of_labels_beyond_the_scores_is_none():
    """Labels that index no class (another output's, or off by 100) give no accuracy, not 0."""
    import numpy as np

    from edgeship.bench.inputs import top1_accuracy

    scores = np.eye(3)
    assert top1_accuracy(scores, np.array([0, 1, 2])) == 1.0
    assert top1_accuracy(scores, np.array([100, 101, 102])) is None


def test_overhead_is_against_the_raw_loop_of_the_same_backend_only():
    from edgeship.bench.storage import annotate_overhead

    raw = _row("raw:tflite-int8", 0.45, kind="raw", artifact="/a/tflite-int8.tflite", acc=None)
    same = _row("tflite-int8", 0.5)
    # TFLite Micro has no raw loop: the litert raw twin is not its baseline.
    micro = _row("tflite-int8", 0.9, backend="tflm", simulated="host-simulated", arena_bytes=5600)
    annotate_overhead([raw, same, micro])
    assert same["overhead_vs_raw_us"] == pytest.approx(50.0)
    assert "overhead_vs_raw_us" not in micro
    text = to_markdown(make_results(ENV, [raw, same, micro], {}))
    assert "| tflite-int8 | tflm (host-simulated) |" in text and "| 5.5 |" in text


def test_overhead_is_against_the_raw_loop_of_the_same_backend():
    from edgeship.bench.storage import annotate_overhead

    raw = _row("raw:tflite-fp32", 0.010, kind="raw")
    raw["artifact"] = "/a/tflite-fp32.tflite"
    ours = _row("tflite-fp32", 0.012)
    other = _row("tflite-fp32", 0.200, backend="openvino")
    annotate_overhead([raw, ours, other])
    assert ours["overhead_vs_raw_us"] == pytest.approx(2.0)
    # openvino has no raw twin: litert's raw loop says nothing about openvino's overhead
    assert "overhead_vs_raw_us" not in other
