"""Load scenarios with MLPerf LoadGen's meanings, over any ``run_query(i)`` callable.

* ``single-stream``: one query of ``batch`` samples after another; headline p90 latency.
* ``multi-stream``: each query carries N samples (the configuration's ``batch``, LoadGen's
  samples per query), queries one after another; headline p99 latency.
* ``server``: queries arrive at random (Poisson) times at a target QPS and are served in
  arrival order by one worker; latency runs from arrival to completion (queueing included);
  headline p99 against a latency bound. ``find_max_qps`` searches the highest QPS whose p99
  meets the bound.
* ``offline``: every sample is available at once and is run in batches of ``batch``;
  headline throughput (samples/s).

The clock and the wait are injectable so the arrival and stopping logic is testable.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from enum import Enum
from typing import Literal

from edgeship.bench.records import LatencyKey, Measurement, Probe
from edgeship.bench.reference import relative
from edgeship.bench.stats import quantiles, summarize
from edgeship.bench.timer import NS_PER_S, Clock, StoppingRule, measure, should_stop, warm_up
from edgeship.errors import ConfigError

RunQuery = Callable[[int], object]

#: Server-scenario defaults when none are given: target load as a fraction of what one
#: worker can serve, and the latency bound as a multiple of the warm-up median latency.
DEFAULT_SERVER_LOAD = 0.5
DEFAULT_BOUND_FACTOR = 10.0
MAX_QPS_STEPS = 7
_SPIN_NS = 200_000


class Scenario(str, Enum):
    """LoadGen scenario."""

    SINGLE_STREAM = "single-stream"
    MULTI_STREAM = "multi-stream"
    SERVER = "server"
    OFFLINE = "offline"

    @classmethod
    def parse(cls, value: str | Scenario) -> Scenario:
        """The scenario named ``value``; a :class:`ConfigError` lists the valid names."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ConfigError(f"Unknown scenario {value!r}. Expected one of: {names}.") from None


#: The number each scenario is judged by.
HEADLINE: dict[Scenario, LatencyKey | Literal["throughput_sps"]] = {
    Scenario.SINGLE_STREAM: "p90",
    Scenario.MULTI_STREAM: "p99",
    Scenario.SERVER: "p99",
    Scenario.OFFLINE: "throughput_sps",
}


def wait_until(deadline_ns: int, clock: Clock = time.perf_counter_ns) -> None:
    """Sleep, then spin, until ``clock()`` reaches ``deadline_ns``."""
    while True:
        left = deadline_ns - clock()
        if left <= 0:
            return
        if left > _SPIN_NS:
            time.sleep((left - _SPIN_NS) / NS_PER_S)


def _cycle(run: RunQuery) -> Callable[[], object]:
    counter = iter(range(1 << 62))
    return lambda: run(next(counter))


def stream(
    run: RunQuery,
    batch: int,
    rule: StoppingRule,
    clock: Clock = time.perf_counter_ns,
    *,
    reference: Callable[[], object] | None = None,
) -> Measurement:
    """Single-stream / multi-stream / offline: queries back to back, each timed.

    With ``reference`` (see :mod:`edgeship.bench.reference`), that kernel runs and is timed
    right after every query, outside the query's time, and the result carries the latency
    relative to it (``reference``, ``rel_p50``, ``rel_min``, ``rel_mad``).
    """
    timing = measure(_cycle(run), rule, clock, reference=reference)
    seconds = timing.elapsed_ns / NS_PER_S
    queries = len(timing.samples_ns)
    out: Measurement = {
        "latency_ms": summarize(timing.samples_ms),
        "latency_quantiles_ms": quantiles(timing.samples_ms),
        "warmup_runs": len(timing.warmup_ns),
        "throughput_ips": queries / seconds if seconds > 0 else None,
        "throughput_sps": queries * batch / seconds if seconds > 0 else None,
        "measured_s": seconds,
    }
    if reference is not None:
        out.update(relative(timing.samples_ns, timing.reference_ns))
    return out


def server(
    run: RunQuery,
    batch: int,
    rule: StoppingRule,
    target_qps: float,
    latency_bound_ms: float,
    *,
    seed: int = 0,
    clock: Clock = time.perf_counter_ns,
    wait: Callable[[int], None] | None = None,
) -> Measurement:
    """Poisson arrivals at ``target_qps``; one worker serves them in order.

    Latency of a query is completion minus its scheduled arrival, so time spent queued behind
    a slow query counts, as in LoadGen's server scenario. Stops by ``rule``'s timed-phase
    part (no warm-up here; call :func:`warm_up` first).
    """
    if target_qps <= 0:
        raise ConfigError(f"Server target QPS must be > 0. Got: {target_qps}")
    waiter = wait or (lambda t: wait_until(t, clock))
    rng = random.Random(seed)
    min_ns = int(rule.min_seconds * NS_PER_S)
    cap_ns = None if rule.max_seconds is None else int(rule.max_seconds * NS_PER_S)
    latencies: list[float] = []
    start = clock()
    arrival = start
    elapsed = 0
    index = 0
    while True:
        arrival += int(rng.expovariate(target_qps) * NS_PER_S)
        waiter(arrival)
        run(index)
        done = clock()
        index += 1
        latencies.append((done - arrival) / 1e6)
        elapsed = done - start
        if should_stop(len(latencies), elapsed, rule, min_ns, cap_ns):
            break
    seconds = elapsed / NS_PER_S
    summary = summarize(latencies)
    return {
        "latency_ms": summary,
        "latency_quantiles_ms": quantiles(latencies),
        "target_qps": target_qps,
        "achieved_qps": len(latencies) / seconds if seconds > 0 else None,
        "latency_bound_ms": latency_bound_ms,
        "meets_bound": summary["p99"] <= latency_bound_ms,
        "throughput_ips": len(latencies) / seconds if seconds > 0 else None,
        "throughput_sps": len(latencies) * batch / seconds if seconds > 0 else None,
        "measured_s": seconds,
    }


def find_max_qps(
    run: RunQuery,
    batch: int,
    rule: StoppingRule,
    latency_bound_ms: float,
    upper_qps: float,
    *,
    steps: int = MAX_QPS_STEPS,
    seed: int = 0,
    clock: Clock = time.perf_counter_ns,
    wait: Callable[[int], None] | None = None,
) -> Measurement:
    """Bisect the QPS in ``(0, upper_qps]`` for the highest one whose p99 meets the bound.

    Returns the best passing server result (or the lowest probe's when none passed) with
    ``max_qps`` (None when no probe passed) and every probe as ``probes``.
    """
    if upper_qps <= 0:
        raise ConfigError(f"find-max-qps needs an upper QPS > 0. Got: {upper_qps}")
    lo, hi = 0.0, upper_qps
    probes: list[Probe] = []
    best: Measurement | None = None
    lowest: Measurement | None = None
    qps = upper_qps
    for step in range(steps):
        result = server(
            run, batch, rule, qps, latency_bound_ms, seed=seed + step, clock=clock, wait=wait
        )
        probes.append(
            {"qps": qps, "p99_ms": result["latency_ms"]["p99"], "meets": result["meets_bound"]}
        )
        if lowest is None or qps < lowest["target_qps"]:
            lowest = result
        if result["meets_bound"]:
            best, lo = result, qps
            if step == 0:
                break
        else:
            hi = qps
        qps = (lo + hi) / 2
    chosen = (best or lowest or Measurement()).copy()
    chosen["max_qps"] = best["target_qps"] if best else None
    chosen["probes"] = probes
    return chosen


def server_defaults(
    run: RunQuery, rule: StoppingRule, clock: Clock = time.perf_counter_ns
) -> tuple[float, float, list[int]]:
    """Warm up; derive the default target QPS and latency bound from the warm-up median.

    Returns:
        ``(target_qps, latency_bound_ms, warmup_ns)``: half of one worker's capacity and ten
        times the median warm-up latency. The warm-up has at least 5 runs here (even with
        ``--warmup 0``), since the defaults need a median.
    """
    rule = dataclasses.replace(rule, warmup_runs=max(rule.warmup_runs, 5))
    warm = warm_up(_cycle(run), rule, clock)
    ordered = sorted(warm)
    median_ns = max(ordered[len(ordered) // 2], 1)
    capacity = NS_PER_S / median_ns
    return capacity * DEFAULT_SERVER_LOAD, median_ns / 1e6 * DEFAULT_BOUND_FACTOR, warm
