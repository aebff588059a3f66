"""Run and warm-up counts and stopping rules, on a clock that moves only when told."""

from __future__ import annotations

import pytest

from edgeship.bench.timer import StoppingRule, measure, timer_resolution_ns, warm_up
from edgeship.errors import ConfigError


def test_defaults_follow_benchmark_model():
    rule = StoppingRule()
    assert (rule.min_runs, rule.min_seconds, rule.warmup_runs, rule.warmup_seconds) == (
        50,
        1.0,
        1,
        0.5,
    )


def test_fast_runs_are_bound_by_the_time_minimums(clock):
    timing = measure(clock.work(10), StoppingRule(), clock)
    assert len(timing.warmup_ns) == 50  # 0.5 s of 10 ms runs
    assert len(timing.samples_ns) == 100  # 1 s of 10 ms runs
    assert set(timing.samples_ns) == {10_000_000}
    assert timing.elapsed_ns == 1_000_000_000


def test_slow_runs_are_bound_by_the_run_minimums(clock):
    timing = measure(clock.work(100), StoppingRule(), clock)
    assert len(timing.warmup_ns) == 5
    assert len(timing.samples_ns) == 50
    assert timing.elapsed_ns == 5_000_000_000


def test_very_slow_runs_still_get_one_warmup_and_fifty_timed_runs(clock):
    timing = measure(clock.work(2000), StoppingRule(), clock)
    assert len(timing.warmup_ns) == 1
    assert len(timing.samples_ns) == 50


def test_each_sample_is_that_run_own_duration(clock):
    timing = measure(
        clock.work(1, 2, 3),
        StoppingRule(min_runs=6, min_seconds=0, warmup_runs=0, warmup_seconds=0),
        clock,
    )
    assert timing.samples_ms == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    assert timing.warmup_ns == []


def test_without_warmup_phase(clock):
    timing = measure(clock.work(10), StoppingRule(min_runs=3, min_seconds=0), clock, warmup=False)
    assert timing.warmup_ns == []
    assert len(timing.samples_ns) == 3


def test_max_runs_caps_the_measurement(clock):
    timing = measure(clock.work(10), StoppingRule(max_runs=10), clock)
    assert len(timing.samples_ns) == 10


def test_max_seconds_caps_the_measurement_below_min_runs(clock):
    timing = measure(clock.work(10), StoppingRule(max_seconds=0.3), clock)
    assert len(timing.samples_ns) == 30


def test_zero_minimums_still_make_one_timed_run(clock):
    rule = StoppingRule(min_runs=0, min_seconds=0, warmup_runs=0, warmup_seconds=0)
    assert len(measure(clock.work(5), rule, clock).samples_ns) == 1


def test_warmup_counts_by_runs_and_seconds(clock):
    assert len(warm_up(clock.work(10), StoppingRule(warmup_runs=3, warmup_seconds=0), clock)) == 3
    assert (
        len(warm_up(clock.work(10), StoppingRule(warmup_runs=3, warmup_seconds=0.1), clock)) == 10
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_runs", -1, "min_runs must be an integer >= 0. Got: -1"),
        ("min_seconds", -0.5, "min_seconds must be a number of seconds >= 0. Got: -0.5"),
        ("max_runs", 0, "max_runs must be an integer >= 1 or None. Got: 0"),
        ("max_seconds", 0, "max_seconds must be > 0 or None. Got: 0"),
    ],
)
def test_bad_rules_are_rejected_with_the_value(field, value, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        StoppingRule(**{field: value})


def test_timer_resolution_is_positive_and_small():
    assert 0 < timer_resolution_ns() < 1_000_000
    ticks = iter(range(0, 10**9, 7))
    assert timer_resolution_ns(lambda: next(ticks), samples=5) == 7
