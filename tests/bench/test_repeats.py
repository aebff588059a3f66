"""Interleaved repeats: the rule each repeat gets, the merged row, the drift warning, and how
compare reads repeats (min of medians, drift in the noise band)."""

from __future__ import annotations

import pytest

from edgeship.bench import BenchConfig, run_sweep
from edgeship.bench.compare import compare, noise_band, parse_fail_on
from edgeship.bench.repeats import HIGH_DRIFT_PCT, best_p50, drift_ms, merge, share_of_rule
from edgeship.bench.stats import summarize
from edgeship.bench.storage import make_results
from edgeship.bench.sweep import warnings_for
from edgeship.bench.timer import StoppingRule
from edgeship.errors import ConfigError


def _row(p50: float, spread: float = 0.0, **extra):
    samples = [p50 - spread, p50, p50 + spread] * 20
    return {
        "variant": "m",
        "backend": "litert",
        "delegate": None,
        "threads": 1,
        "batch": 1,
        "scenario": "single-stream",
        "latency_ms": summarize(samples),
        "throughput_ips": 1000.0 / p50,
        "error": None,
        **extra,
    }


def _merged(*p50s: float, spread: float = 0.0):
    return merge([_row(p, spread) for p in p50s])


def test_each_repeat_gets_its_share_of_the_rule_but_a_full_warm_up():
    rule = StoppingRule(min_runs=50, min_seconds=1.2, warmup_seconds=0.5, max_runs=9, max_seconds=3)
    share = share_of_rule(rule, 3)
    assert (share.min_runs, share.min_seconds) == (17, pytest.approx(0.4))
    assert (share.max_runs, share.max_seconds) == (3, pytest.approx(1.0))
    assert (share.warmup_runs, share.warmup_seconds) == (rule.warmup_runs, 0.5)
    assert share_of_rule(rule, 1) is rule


@pytest.mark.parametrize("bad", [0, -1])
def test_repeats_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match=rf"repeats must be an integer >= 1 .* Got: {bad}"):
        BenchConfig(artifacts=("m.tflite",), repeats=bad)


@pytest.mark.parametrize("bad", [1.5, True, "3"])
def test_repeats_of_another_type_are_rejected(bad):
    with pytest.raises(ConfigError, match="repeats"):
        BenchConfig(artifacts=("m.tflite",), repeats=bad)


def test_the_merged_row_is_the_median_repeat_with_the_drift_it_measured():
    row = _merged(1.2, 1.0, 1.1)
    assert row["latency_ms"]["p50"] == pytest.approx(1.1)
    assert row["repeats"]["p50_ms"] == pytest.approx([1.2, 1.0, 1.1])
    assert row["repeats"]["p50_min_ms"] == pytest.approx(1.0)
    assert row["repeats"]["spread_pct"] == pytest.approx(20.0)
    assert best_p50(row) == pytest.approx(1.0) and drift_ms(row) == pytest.approx(0.2)


def test_the_noisy_flag_follows_the_drift_limit_not_the_per_inference_cv():
    wide_but_steady = _merged(1.0, 1.0, 1.0, spread=0.9)  # CV ~0.7, the median never moved
    assert wide_but_steady["latency_ms"]["cv"] > 0.5
    assert wide_but_steady["noisy"] is False
    inside = _merged(1.0, 1.0 + HIGH_DRIFT_PCT / 100 - 0.001)
    assert inside["noisy"] is False
    above = _merged(1.0, 1.0 + HIGH_DRIFT_PCT / 100 + 0.001)
    assert above["noisy"] is True


def test_the_drift_warning_fires_only_when_the_median_moved():
    rows = [_merged(1.0, 1.0, 1.0, spread=0.9), _merged(1.0, 1.3, 1.1)]
    [warning] = warnings_for(rows)
    assert "the median moved 30% between its 3 interleaved repeats" in warning
    assert "p50 ms: 1, 1.3, 1.1" in warning and "raise --repeats" in warning
    just_above, just_inside = _merged(1.0, 1.101), _merged(1.0, 1.099)
    assert len(warnings_for([just_above])) == 1 and warnings_for([just_inside]) == []


def test_a_failed_repeat_fails_the_configuration_and_says_which():
    bad = _row(1.0, error="RuntimeError: boom")
    row = merge([_row(1.0), bad, _row(1.0)])
    assert row["error"] == "repeat 2 of 3: RuntimeError: boom"
    assert "repeats" not in row
    with pytest.raises(ConfigError, match="at least one repeat"):
        merge([])


def test_compare_uses_the_fastest_median_and_widens_the_band_by_the_drift():
    base = make_results({}, [_merged(1.0, 1.3, 1.1)])
    slower_moments = make_results({}, [_merged(1.02, 1.25, 1.4)])  # other moments, same speed
    assert compare(base, slower_moments, parse_fail_on("p50:5%"))["regressions"] == []
    metrics = compare(base, slower_moments)["rows"][0]["metrics"]["p50"]
    assert (metrics["base"], metrics["new"]) == (pytest.approx(1.0), pytest.approx(1.02))
    band = noise_band(base["results"][0], slower_moments["results"][0], "p50")
    assert band == pytest.approx((0.3**2 + 0.38**2) ** 0.5)


def test_a_real_slowdown_on_every_repeat_is_a_regression():
    base = make_results({}, [_merged(1.0, 1.04, 1.02)])
    slowed = make_results({}, [_merged(1.2, 1.25, 1.22)])  # 20% slower at every moment
    result = compare(base, slowed, parse_fail_on("p50:5%"))
    [regression] = result["regressions"]
    assert regression["delta_pct"] == pytest.approx(20.0)
    assert result["unresolved"] == []


def test_a_threshold_inside_the_noise_band_is_reported_unresolved():
    base = make_results({}, [_merged(1.0, 1.3, 1.1)])
    again = make_results({}, [_merged(1.02, 1.25, 1.4)])
    result = compare(base, again, parse_fail_on("p50:5%,p50:60%"))
    [unresolved] = result["unresolved"]  # the 60% gate could see its change; 5% could not
    assert unresolved["threshold"] == "p50:+5%" and result["regressions"] == []
    assert "p50:+5% is inside the noise band (p50 +/- 48%)" in unresolved["message"]
    assert "Rerun both on a quieter machine" in unresolved["message"]
    steady = make_results({}, [_merged(1.0, 1.01, 1.0)])
    assert compare(steady, steady, parse_fail_on("p50:5%"))["unresolved"] == []


def test_a_sweep_interleaves_its_repeats_and_merges_them(bench_artifacts, fast):
    arts = (str(bench_artifacts / "tflite-int8.tflite"), str(bench_artifacts / "onnx-fp32.onnx"))
    order: list[str] = []
    settings = {**fast, "repeats": 2, "min_runs": 4, "isolate": False}
    results = run_sweep(
        BenchConfig(artifacts=arts, **settings),
        progress=lambda done, total, row: order.append(row["variant"]),
    )
    assert order == ["tflite-int8", "onnx-fp32", "tflite-int8", "onnx-fp32"]
    assert [r["variant"] for r in results["results"]] == ["tflite-int8", "onnx-fp32"]
    for row in results["results"]:
        assert row["repeats"]["n"] == 2 and len(row["repeats"]["p50_ms"]) == 2
        assert row["stopping_rule"]["min_runs"] == 2  # each repeat ran half of the rule
    assert results["config"]["repeats"] == 2
