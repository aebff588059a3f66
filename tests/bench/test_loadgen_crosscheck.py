"""The LoadGen cross-check script drives one engine through LoadGen and through edgeship."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "loadgen_crosscheck.py"


def _module():
    spec = importlib.util.spec_from_file_location("loadgen_crosscheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_crosscheck_reports_both_harnesses_on_the_same_engine(bench_artifacts):
    pytest.importorskip("mlperf_loadgen")
    lg = _module()
    result = lg.crosscheck(str(bench_artifacts / "onnx-fp32.onnx"), 1, 0.2, 50, 1)
    for key in ("p50", "p90"):
        r = result[key]
        assert r["loadgen_ms"] > 0 and r["edgeship_ms"] > 0
        assert r["diff"] == pytest.approx((r["loadgen_ms"] - r["edgeship_ms"]) / r["edgeship_ms"])
        assert r["agree"] == (abs(r["diff"]) <= 0.05)
        low, high = r["diff_iqr"]
        assert low == pytest.approx(r["diff"]) and high == pytest.approx(r["diff"])
    assert result["rounds"]["loadgen"][0]["queries"] >= 50
    text = lg.markdown(result)
    assert "| p50 |" in text and "LoadGen ms" in text
