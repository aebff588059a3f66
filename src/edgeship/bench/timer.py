"""The measuring loop: warm-up, then timed runs until the stopping rule is met.

Every run is timed with :func:`time.perf_counter_ns` (or an injected clock, so the loop logic
is testable without waiting). The rules are data (:class:`StoppingRule`); the defaults follow
TFLite's ``benchmark_model``: at least 1 warm-up run and 0.5 s of warm-up, then at least
50 timed runs and at least 1 s of timed runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import cast

from edgeship.bench.records import StoppingRuleDict
from edgeship.errors import ConfigError
from edgeship.typecheck import check_fields

Clock = Callable[[], int]
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class StoppingRule:
    """When warm-up and measurement stop.

    Warm-up runs until both ``warmup_runs`` runs and ``warmup_seconds`` have passed.
    Measurement runs until both ``min_runs`` runs and ``min_seconds`` have passed, or until
    a cap is hit: ``max_runs`` runs, or ``max_seconds`` of measuring (caps win over minimums,
    but at least one timed run is always made).

    Attributes:
        min_runs: minimum timed runs.
        min_seconds: minimum seconds of timed runs.
        warmup_runs: minimum warm-up runs (untimed in the results).
        warmup_seconds: minimum seconds of warm-up.
        max_runs: cap on timed runs, or None.
        max_seconds: cap on seconds of timed runs, or None.
    """

    min_runs: int = 50
    min_seconds: float = 1.0
    warmup_runs: int = 1
    warmup_seconds: float = 0.5
    max_runs: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        check_fields(self, "Stopping rule setting")  # types, and finite seconds
        for name in ("min_runs", "warmup_runs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0. Got: {value!r}")
        for name in ("min_seconds", "warmup_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{name} must be a number of seconds >= 0. Got: {value!r}")
        if self.max_runs is not None and (not isinstance(self.max_runs, int) or self.max_runs < 1):
            raise ConfigError(f"max_runs must be an integer >= 1 or None. Got: {self.max_runs!r}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ConfigError(f"max_seconds must be > 0 or None. Got: {self.max_seconds!r}")

    def to_dict(self) -> StoppingRuleDict:
        """The rule as a JSON-ready dict."""
        return cast(StoppingRuleDict, asdict(self))


@dataclass
class Timing:
    """What one measuring loop recorded.

    Attributes:
        warmup_ns: duration of each warm-up run.
        samples_ns: duration of each timed run.
        elapsed_ns: wall time of the timed phase (from its start to the end of its last run),
            less the time spent in the reference kernel.
        reference_ns: duration of the reference kernel run right after each timed run (empty
            when none was given).
    """

    warmup_ns: list[int] = field(default_factory=list)
    samples_ns: list[int] = field(default_factory=list)
    elapsed_ns: int = 0
    reference_ns: list[int] = field(default_factory=list)

    @property
    def samples_ms(self) -> list[float]:
        """Timed runs in milliseconds."""
        return [s / 1e6 for s in self.samples_ns]


def warm_up(
    fn: Callable[[], object], rule: StoppingRule, clock: Clock = time.perf_counter_ns
) -> list[int]:
    """Run ``fn`` until the warm-up part of ``rule`` is met; return each run's duration."""
    durations: list[int] = []
    start = clock()
    limit = int(rule.warmup_seconds * NS_PER_S)
    while len(durations) < rule.warmup_runs or clock() - start < limit:
        t0 = clock()
        fn()
        durations.append(clock() - t0)
    return durations


def measure(
    fn: Callable[[], object],
    rule: StoppingRule | None = None,
    clock: Clock = time.perf_counter_ns,
    *,
    warmup: bool = True,
    reference: Callable[[], object] | None = None,
) -> Timing:
    """Warm up, then time ``fn`` run after run until ``rule`` says stop.

    Args:
        fn: one inference (or one query); its return value is ignored.
        rule: the stopping rule; defaults to :class:`StoppingRule` ().
        clock: monotonic nanosecond clock; :func:`time.perf_counter_ns` by default.
        warmup: run the warm-up phase first.
        reference: a fixed kernel run (and timed on its own) right after every timed run;
            its time counts neither in the run's duration nor in the timed phase's length.

    Returns:
        The warm-up and timed durations.
    """
    rule = rule or StoppingRule()
    timing = Timing()
    if warmup:
        timing.warmup_ns = warm_up(fn, rule, clock)
    min_ns = int(rule.min_seconds * NS_PER_S)
    cap_ns = None if rule.max_seconds is None else int(rule.max_seconds * NS_PER_S)
    samples, refs = timing.samples_ns, timing.reference_ns
    start = clock()
    elapsed = 0
    aside = 0
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        samples.append(t1 - t0)
        elapsed = t1 - start - aside
        if reference is not None:
            reference()
            refs.append(clock() - t1)
            aside += refs[-1]
        if should_stop(len(samples), elapsed, rule, min_ns, cap_ns):
            break
    timing.elapsed_ns = elapsed
    return timing


def should_stop(
    runs: int, elapsed_ns: int, rule: StoppingRule, min_ns: int, cap_ns: int | None
) -> bool:
    """True once ``runs`` timed runs over ``elapsed_ns`` satisfy ``rule`` (or hit a cap)."""
    if runs < 1:
        return False
    if rule.max_runs is not None and runs >= rule.max_runs:
        return True
    if cap_ns is not None and elapsed_ns >= cap_ns:
        return True
    return runs >= rule.min_runs and elapsed_ns >= min_ns


def timer_resolution_ns(clock: Clock = time.perf_counter_ns, samples: int = 2000) -> int:
    """Smallest non-zero step observed between consecutive clock reads, in nanoseconds."""
    best = 0
    for _ in range(samples):
        a = clock()
        b = clock()
        while b == a:
            b = clock()
        step = b - a
        if best == 0 or step < best:
            best = step
    return best


def loop_floor_ns(runs: int = 20_000) -> float:
    """Median time the measuring loop records for a query that does nothing, in ns.

    This is the floor under every sample: two clock reads, one call through the scenario's
    query function and a list index. It is reported, not subtracted.
    """
    pool = [0] * 8
    counter = iter(range(1 << 62))

    def query(i: int) -> object:
        return pool[i % len(pool)]

    rule = StoppingRule(min_runs=runs, min_seconds=0, warmup_runs=100, warmup_seconds=0)
    timing = measure(lambda: query(next(counter)), rule)
    ordered = sorted(timing.samples_ns)
    return float(ordered[len(ordered) // 2])
