"""Scenario logic on a fake clock: Poisson server arrivals, max-QPS search, stream counts."""

from __future__ import annotations

import re

import pytest

from edgeship.bench import scenarios as sc
from edgeship.bench.timer import StoppingRule
from edgeship.errors import ConfigError


def _query(clock, ms=1.0):
    work = clock.work(ms)
    return lambda i: work()


def test_scenario_names_follow_loadgen_and_bad_names_are_listed():
    assert sc.Scenario.parse("server") is sc.Scenario.SERVER
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "Unknown scenario 'batch'. Expected one of: single-stream, multi-stream, server, "
            "offline"
        ),
    ):
        sc.Scenario.parse("batch")
    assert sc.HEADLINE[sc.Scenario.SINGLE_STREAM] == "p90"
    assert sc.HEADLINE[sc.Scenario.MULTI_STREAM] == "p99"
    assert sc.HEADLINE[sc.Scenario.OFFLINE] == "throughput_sps"


def test_stream_counts_queries_and_samples(clock):
    rule = StoppingRule(min_runs=10, min_seconds=0, warmup_runs=2, warmup_seconds=0)
    out = sc.stream(_query(clock, 2.0), 8, rule, clock)
    assert out["latency_ms"]["n"] == 10
    assert out["warmup_runs"] == 2
    assert out["throughput_ips"] == pytest.approx(500.0)
    assert out["throughput_sps"] == pytest.approx(4000.0)


def test_server_at_light_load_sees_the_service_time(clock):
    rule = StoppingRule(min_runs=50, min_seconds=10)
    out = sc.server(_query(clock), 1, rule, 100, 50, clock=clock, wait=clock.wait)
    assert out["latency_ms"]["min"] == pytest.approx(1.0)
    assert out["latency_ms"]["p50"] == pytest.approx(1.0)
    assert out["achieved_qps"] == pytest.approx(100, rel=0.1)  # Poisson arrivals at the target
    assert out["meets_bound"] is True
    assert out["latency_ms"]["n"] >= 900


def test_server_overload_queues_and_misses_the_bound(clock):
    rule = StoppingRule(min_runs=50, min_seconds=2)
    out = sc.server(_query(clock), 1, rule, 2000, 5, clock=clock, wait=clock.wait)
    assert out["latency_ms"]["p99"] > 100  # queueing delay counts as latency
    assert out["meets_bound"] is False


def test_server_arrivals_are_reproducible_by_seed(clock):
    rule = StoppingRule(min_runs=30, min_seconds=0)
    first = sc.server(_query(clock), 1, rule, 500, 5, seed=3, clock=clock, wait=clock.wait)
    clock.now = 0
    again = sc.server(_query(clock), 1, rule, 500, 5, seed=3, clock=clock, wait=clock.wait)
    assert first["latency_ms"] == again["latency_ms"]


def test_find_max_qps_bisects_to_the_bound(clock):
    rule = StoppingRule(min_runs=50, min_seconds=5)
    out = sc.find_max_qps(_query(clock), 1, rule, 5.0, 2000, clock=clock, wait=clock.wait)
    assert 300 <= out["max_qps"] < 1000  # one 1 ms worker: p99 <= 5 ms well below saturation
    assert out["probes"][0] == pytest.approx(
        {"qps": 2000, "p99_ms": out["probes"][0]["p99_ms"], "meets": False}
    )
    assert len(out["probes"]) == sc.MAX_QPS_STEPS
    assert all(p["meets"] == (p["p99_ms"] <= 5.0) for p in out["probes"])


def test_find_max_qps_stops_when_the_upper_bound_passes(clock):
    rule = StoppingRule(min_runs=20, min_seconds=1)
    out = sc.find_max_qps(_query(clock), 1, rule, 1000.0, 50, clock=clock, wait=clock.wait)
    assert out["max_qps"] == 50
    assert len(out["probes"]) == 1


def test_server_defaults_come_from_the_warmup_median(clock):
    rule = StoppingRule(warmup_runs=5, warmup_seconds=0)
    qps, bound, warm = sc.server_defaults(_query(clock, 4.0), rule, clock)
    assert len(warm) == 5
    assert qps == pytest.approx(125.0)  # half of 250/s
    assert bound == pytest.approx(40.0)  # ten times 4 ms


def test_bad_server_settings_are_rejected():
    with pytest.raises(ConfigError, match=re.escape("target QPS must be > 0. Got: 0")):
        sc.server(lambda i: None, 1, StoppingRule(), 0, 1)
    with pytest.raises(ConfigError, match=re.escape("upper QPS > 0. Got: -1")):
        sc.find_max_qps(lambda i: None, 1, StoppingRule(), 1, -1)
