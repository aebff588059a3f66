"""Latency relative to the reference kernel: the statistic, the timing loop, compare's gate on
it, and a real bench row that carries it."""

from __future__ import annotations

import math
import re

import pytest

from edgeship.bench import BenchConfig, run_sweep
from edgeship.bench.compare import compare, noise_band, parse_fail_on
from edgeship.bench.reference import KERNEL, make_kernel, relative
from edgeship.bench.repeats import merge
from edgeship.bench.report import to_csv, to_markdown
from edgeship.bench.stats import summarize
from edgeship.bench.storage import make_results, save_results
from edgeship.bench.timer import StoppingRule, measure
from edgeship.cli.main import main
from edgeship.errors import InvalidInputError

STEADY = ([20_000, 21_000, 20_500] * 40, [10_000, 10_200, 10_100] * 40)  # query, reference ns


def _two_speed(query_ns, reference_ns, factor=2.0):
    """The same run on a machine ``factor`` slower in every other pair (query and kernel)."""
    pairs = list(zip(query_ns, reference_ns, strict=True))
    scaled = [
        (int(q * factor), int(r * factor)) if i % 2 else (q, r) for i, (q, r) in enumerate(pairs)
    ]
    return [q for q, _ in scaled], [r for _, r in scaled]


def _repeat(query_ns, reference_ns, kernel=KERNEL):
    """One repeat's row from paired durations, as the bench child writes it."""
    row = {
        "variant": "m",
        "backend": "litert",
        "delegate": None,
        "threads": 1,
        "batch": 1,
        "scenario": "single-stream",
        "latency_ms": summarize([q / 1e6 for q in query_ns]),
        "error": None,
    }
    if kernel is not None:
        row.update(relative(query_ns, reference_ns))
        row["reference"]["kernel"] = kernel
    return row


def _run(*speeds, slowdown=1.0, kernel=KERNEL):
    """A results file of one configuration whose repeats ran at machine ``speeds`` (factors)."""
    query, ref = STEADY
    repeats = []
    for speed in speeds:
        q, r = _two_speed(query, ref, speed)
        repeats.append(_repeat([int(x * slowdown) for x in q], r, kernel))
    return make_results({}, [merge(repeats)])


def test_a_machine_twice_as_slow_in_half_the_pairs_gives_the_same_relative_latency():
    steady = relative(*STEADY)
    jumpy = relative(*_two_speed(*STEADY))
    assert jumpy["rel_p50"] == pytest.approx(steady["rel_p50"])
    assert jumpy["rel_min"] == pytest.approx(steady["rel_min"])
    assert steady["rel_min"] == pytest.approx(20_000 / 10_000)
    assert jumpy["reference"]["p50_us"] > steady["reference"]["p50_us"]  # the machine moved
    raw = summarize(STEADY[0])["p50"], summarize(_two_speed(*STEADY)[0])["p50"]
    assert raw[1] > 1.4 * raw[0]  # and raw p50 moved with it


def test_relative_latency_rejects_unpaired_or_empty_durations():
    with pytest.raises(
        InvalidInputError, match=re.escape("one reference duration per query. Got: 3 queries and 2")
    ):
        relative([1, 2, 3], [1, 2])
    with pytest.raises(InvalidInputError, match="Got: 0 queries and 0 reference runs"):
        relative([], [])
    with pytest.raises(
        InvalidInputError, match=re.escape("positive reference durations. Got: 0 ns")
    ):
        relative([5, 5], [3, 0])


def test_the_kernel_is_timed_after_every_query_and_kept_out_of_its_time(clock):
    rule = StoppingRule(min_runs=6, min_seconds=0.0, warmup_runs=2, warmup_seconds=0.0)
    reference = clock.work(1.0)
    query = clock.work(0.25, 0.25)
    timing = measure(query, rule, clock, reference=reference)
    assert len(timing.samples_ns) == len(timing.reference_ns) == 6
    assert timing.samples_ns == [250_000] * 6 and timing.reference_ns == [1_000_000] * 6
    assert timing.elapsed_ns == 6 * 250_000  # the kernel's time counts in no measure


def test_the_real_kernel_is_named_and_deterministic():
    kernel = make_kernel()
    first = kernel().copy()
    assert (kernel() == first).all() and first.shape == (32, 32)
    assert KERNEL.endswith("/v1")


def test_unchanged_artifacts_on_a_jumpy_machine_are_no_regression_but_a_slowdown_is():
    base = _run(1.0, 2.0, 1.5)
    again = _run(2.0, 1.0, 1.8)  # other moments, other machine states
    gate = parse_fail_on("rel_p50:5%,rel_min:5%")
    same = compare(base, again, gate)
    assert same["regressions"] == [] and same["unchecked"] == [] and same["unresolved"] == []
    slowed = compare(base, _run(1.8, 1.0, 2.0, slowdown=1.2), gate)
    assert {r["metric"] for r in slowed["regressions"]} == {"rel_p50", "rel_min"}
    for regression in slowed["regressions"]:
        assert regression["delta_pct"] == pytest.approx(20.0, abs=0.2)


def test_a_slowdown_inside_the_repeats_band_is_not_a_regression():
    query, ref = STEADY
    moved = _repeat([int(q * 1.3) for q in query], ref)  # one repeat's kernel missed a stall
    base = make_results({}, [merge([_repeat(query, ref), _repeat(query, ref), moved])])
    slowed = _run(1.0, 1.0, 1.0, slowdown=1.2)
    band = noise_band(base["results"][0], slowed["results"][0], "rel_min")
    assert band == pytest.approx(0.3 * 2.0, rel=0.01)  # the base's repeats moved 30%
    result = compare(base, slowed, parse_fail_on("rel_min:5%"))
    assert result["regressions"] == []  # +20%, inside the +/-30% band
    [unresolved] = result["unresolved"]
    assert "rel_min:+5% is inside the noise band (rel_min +/- 30%)" in unresolved["message"]


def test_rows_without_a_reference_kernel_leave_the_gate_unchecked():
    old = _run(1.0, 1.0, kernel=None)
    result = compare(old, _run(1.0, 1.0), parse_fail_on("rel_p50:5%"))
    [unchecked] = result["unchecked"]
    assert unchecked["missing_in"] == ["base"] and result["regressions"] == []
    assert "rel_p50 is missing in base (no reference kernel was timed there" in unchecked["message"]
    both_old = compare(old, old, parse_fail_on("rel_min:5%"))
    assert [u["missing_in"] for u in both_old["unchecked"]] == [["base", "new"]]


def test_rows_timed_against_different_kernels_are_not_compared():
    other = _run(1.0, 1.0, slowdown=3.0, kernel="matmul-f32-64x64x2/v2")
    result = compare(_run(1.0, 1.0), other, parse_fail_on("rel_min:5%"))
    assert result["regressions"] == []
    [unchecked] = result["unchecked"]
    assert (
        "rel_min is not comparable (the runs timed different reference kernels"
        in unchecked["message"]
    )


def test_a_real_bench_row_carries_the_reference_and_relative_latency(bench_artifacts, fast):
    artifact = str(bench_artifacts / "tflite-int8.tflite")
    settings = {**fast, "repeats": 2, "min_runs": 4, "isolate": False}
    [row] = run_sweep(BenchConfig(artifacts=(artifact,), **settings))["results"]
    reference = row["reference"]
    assert reference["kernel"] == KERNEL and reference["n"] == row["latency_ms"]["n"]
    for value in (reference["p50_us"], reference["min_us"], row["rel_p50"], row["rel_min"]):
        assert math.isfinite(value) and value > 0
    assert len(row["repeats"]["rel_p50"]) == len(row["repeats"]["rel_min"]) == 2
    assert (
        compare(make_results({}, [row]), make_results({}, [row]), parse_fail_on("rel_min:5%"))[
            "unchecked"
        ]
        == []
    )
    doc = make_results({}, [row])
    table = to_markdown(doc)
    assert "| rel min |" in table
    assert "rel min: the fastest query over the fastest run" in table
    assert f"{row['rel_min']:.3g}" in table
    header, line = to_csv(doc).splitlines()[:2]
    column = header.split(",").index("rel_min")
    assert float(line.split(",")[column]) == pytest.approx(row["rel_min"])


def test_the_cli_gate_fails_on_a_base_without_reference(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    save_results(old, _run(1.0, 1.0, kernel=None))
    save_results(new, _run(1.0, 1.0))
    assert main(["compare", str(old), str(new), "--fail-on", "rel_min:5%"]) == 1
    err = capsys.readouterr().err
    assert "cannot check --fail-on: m/litert" in err and "rel_min is missing in base" in err
    assert main(["compare", str(new), str(new), "--fail-on", "rel_min:5%"]) == 0
