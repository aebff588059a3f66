"""compare: matching rows, noise bands from the runs' spread, --fail-on expressions."""

from __future__ import annotations

import pytest

from edgeship.bench.compare import compare, noise_band, parse_fail_on, spread, to_markdown
from edgeship.bench.stats import summarize
from edgeship.bench.storage import make_results
from edgeship.errors import ConfigError


def _row(variant, samples, accuracy=0.9, threads=1, **extra):
    lat = summarize(samples)
    return {
        "variant": variant,
        "backend": "litert",
        "delegate": None,
        "threads": threads,
        "batch": 1,
        "scenario": "single-stream",
        "latency_ms": lat,
        "throughput_ips": 1000.0 / lat["mean"],
        "accuracy": accuracy,
        "error": None,
        **extra,
    }


def _doc(*rows):
    return make_results({}, list(rows))


TIGHT = [1.0, 1.0, 1.0, 1.01, 0.99] * 20  # p50 1.0, MAD 0.0 -> std-based spread
WIDE = [0.5, 1.0, 1.5] * 20  # p50 1.0, MAD 0.5


def test_parse_fail_on_reads_relative_and_absolute_limits():
    [p50, acc] = parse_fail_on("p50:5%, accuracy:-0.5")
    assert (p50.metric, p50.limit, p50.relative) == ("p50", 5.0, True)
    assert (acc.metric, acc.limit, acc.relative) == ("accuracy", -0.5, False)
    assert parse_fail_on(None) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p50=5%", "Bad --fail-on item 'p50=5%'. Expected METRIC:VALUE[%]"),
        ("latency:5%", "Unknown metric 'latency' in --fail-on. Expected one of: p50, p90"),
        ("p50:0", "needs a non-zero limit"),
    ],
)
def test_bad_fail_on_items_are_rejected(text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse_fail_on(text)


def test_spread_is_the_robust_sigma():
    assert spread(_row("a", WIDE)) == pytest.approx(1.4826 * 0.5)
    tight = _row("a", TIGHT)
    assert spread(tight) == pytest.approx(tight["latency_ms"]["std"])  # MAD 0 -> std
    band = noise_band(_row("a", WIDE), _row("a", WIDE), "p50")
    assert band == pytest.approx((2**0.5) * 1.4826 * 0.5)
    assert noise_band(_row("a", WIDE), _row("a", WIDE), "accuracy") == 0.0


def test_a_slowdown_beyond_threshold_and_noise_is_a_regression():
    base = _doc(_row("m", TIGHT))
    new = _doc(_row("m", [x * 1.2 for x in TIGHT]))
    result = compare(base, new, parse_fail_on("p50:5%"))
    [reg] = result["regressions"]
    assert reg["metric"] == "p50" and reg["delta_pct"] == pytest.approx(20.0)
    assert reg["threshold"] == "p50:+5%"
    assert reg["key"]["variant"] == "m"


def test_a_slowdown_inside_the_noise_band_is_not_a_regression():
    base = _doc(_row("m", WIDE))
    new = _doc(_row("m", [x + 0.2 for x in WIDE]))  # +20% but the spread is 0.74 ms
    result = compare(base, new, parse_fail_on("p50:5%"))
    assert result["regressions"] == []
    assert result["rows"][0]["metrics"]["p50"]["beyond_noise"] is False


def test_a_slowdown_below_threshold_is_not_a_regression():
    base = _doc(_row("m", TIGHT))
    new = _doc(_row("m", [x * 1.03 for x in TIGHT]))
    assert compare(base, new, parse_fail_on("p50:5%"))["regressions"] == []


def test_accuracy_drop_is_in_percentage_points():
    base = _doc(_row("m", TIGHT, accuracy=0.900))
    worse = _doc(_row("m", TIGHT, accuracy=0.890))  # -1.0 point
    slight = _doc(_row("m", TIGHT, accuracy=0.897))  # -0.3 point
    assert [
        r["metric"] for r in compare(base, worse, parse_fail_on("accuracy:-0.5"))["regressions"]
    ] == ["accuracy"]
    assert compare(base, slight, parse_fail_on("accuracy:-0.5"))["regressions"] == []


def test_throughput_drop_fails_a_negative_relative_limit():
    base = _doc(_row("m", TIGHT))
    new = _doc(_row("m", [x * 2 for x in TIGHT]))
    regs = compare(base, new, parse_fail_on("throughput_ips:-10%"))["regressions"]
    assert regs and regs[0]["delta_pct"] == pytest.approx(-50.0)


def test_unmatched_and_failed_rows_are_listed_not_compared():
    base = _doc(_row("a", TIGHT), _row("b", TIGHT), _row("c", TIGHT, error="boom"))
    new = _doc(_row("a", TIGHT, threads=2), _row("b", TIGHT), _row("c", TIGHT))
    result = compare(base, new)
    assert [r["key"]["variant"] for r in result["rows"]] == ["b"]
    assert [k["variant"] for k in result["only_base"]] == ["a"]
    assert sorted(k["variant"] for k in result["only_new"]) == ["a", "c"]
    text = to_markdown(result)
    assert "| b/litert t1 b1 | p50 |" in text and "Only in base: a/litert t1 b1" in text


def test_a_fail_on_metric_missing_from_a_file_is_unchecked_not_passed(tmp_path, capsys):
    """accuracy from a bench run without --eval is null: the gate cannot pass silently."""
    import json

    from edgeship.cli.main import main

    base, new = _doc(_row("m", TIGHT, accuracy=None)), _doc(_row("m", TIGHT))
    result = compare(base, new, parse_fail_on("accuracy:-0.5"))
    assert result["regressions"] == []
    [u] = result["unchecked"]
    assert u["missing_in"] == ["base"] and "--eval" in u["message"]
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(new))
    files = [str(tmp_path / "base.json"), str(tmp_path / "new.json")]
    assert main(["compare", *files, "--fail-on", "accuracy:-0.5"]) == 1
    assert "accuracy is missing in base" in capsys.readouterr().err
    assert main(["compare", *files, "--fail-on", "p50:5%"]) == 0


def test_a_row_that_records_the_metric_in_neither_file_does_not_block_the_gate():
    """A raw baseline holds no accuracy in either run: the gate runs on the rows that do."""
    rows = (_row("m", TIGHT, accuracy=0.9), _row("raw:m", TIGHT, accuracy=None, kind="raw"))
    result = compare(_doc(*rows), _doc(*rows), parse_fail_on("p50:5%,accuracy:-0.5"))
    assert result["regressions"] == [] and result["unchecked"] == []
    worse = _doc(_row("m", TIGHT, accuracy=0.85), rows[1])
    [r] = compare(_doc(*rows), worse, parse_fail_on("accuracy:-0.5"))["regressions"]
    assert r["key"]["variant"] == "m"


def test_a_gate_metric_no_row_records_is_unchecked_with_a_hint_that_fits_the_run():
    rows = (_row("m", TIGHT, accuracy=None),)
    no_eval = make_results({}, list(rows), {"eval_data": None})
    [u] = compare(no_eval, no_eval, parse_fail_on("accuracy:-0.5"))["unchecked"]
    assert u["message"] == (
        "m/litert t1 b1: accuracy is missing in base and new "
        "(the base and new run had no eval data: bench with --eval records it)"
    )
    with_eval = make_results({}, list(rows), {"eval_data": "eval.npz"})
    [u] = compare(with_eval, with_eval, parse_fail_on("accuracy:-0.5"))["unchecked"]
    assert u["message"].endswith(
        "(its run had eval data, but this configuration records no accuracy)"
    )


def test_no_change_is_never_beyond_the_noise():
    """Unchanged numbers stay noise even where the band is 0 (accuracy has none)."""
    doc = _doc(_row("m", TIGHT))
    metrics = compare(doc, doc)["rows"][0]["metrics"]
    assert metrics["accuracy"]["band"] == 0.0 and metrics["p50"]["band"] > 0.0
    assert [name for name, m in metrics.items() if m["beyond_noise"]] == []


def test_a_change_exactly_at_the_threshold_is_not_a_regression():
    """Thresholds are limits: a change equal to one passes, any more fails (both signs)."""
    steady, slower = [1.0] * 50, [1.5] * 50  # no spread: no noise band
    base = _doc(_row("m", steady, accuracy=1.0))
    new = _doc(_row("m", slower, accuracy=0.5))  # p50 +0.5 ms, accuracy -50 points
    for text, broken in (("p50:0.5", []), ("p50:0.25", ["p50"]),
                         ("accuracy:-50", []), ("accuracy:-49", ["accuracy"])):  # fmt: skip
        regressions = compare(base, new, parse_fail_on(text))["regressions"]
        assert [r["metric"] for r in regressions] == broken, text


def test_the_throughput_band_is_the_relative_spread_times_the_throughput():
    base, new = _row("a", WIDE), _row("a", WIDE)
    relative = 1.4826 * 0.5 / 1.0  # robust sigma over the median, per run
    expected = (2**0.5) * relative * base["throughput_ips"]
    assert noise_band(base, new, "throughput_ips") == pytest.approx(expected)
