"""Statistics with literal expected values (type-7 percentiles, sample std, CV, MAD)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeship.bench import stats
from edgeship.errors import InvalidInputError

ONE_TO_TEN = [float(v) for v in range(1, 11)]


def test_summary_of_one_to_ten_has_the_literal_values():
    s = stats.summarize(list(reversed(ONE_TO_TEN)))
    assert s["n"] == 10
    assert s["mean"] == 5.5
    assert s["std"] == pytest.approx(3.0276503540974917, abs=1e-12)
    assert s["min"] == 1.0
    assert s["max"] == 10.0
    assert s["p50"] == pytest.approx(5.5)
    assert s["p90"] == pytest.approx(9.1)
    assert s["p95"] == pytest.approx(9.55)
    assert s["p99"] == pytest.approx(9.91)
    assert s["p999"] == pytest.approx(9.991)
    assert s["cv"] == pytest.approx(0.5504818825631803, abs=1e-12)
    assert s["mad"] == pytest.approx(2.5)


def test_percentiles_interpolate_between_closest_ranks():
    assert stats.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert stats.percentile([3.0, 1.0, 2.0], 0.9) == pytest.approx(2.8)
    assert stats.percentile([3.0, 1.0, 2.0], 0.0) == 1.0
    assert stats.percentile([3.0, 1.0, 2.0], 1.0) == 3.0
    assert stats.percentile([10.0, 20.0], 0.25) == pytest.approx(12.5)


def test_percentiles_match_numpy_linear_method():
    rng = np.random.default_rng(1)
    data = rng.lognormal(size=257).tolist()
    for key, q in stats.PERCENTILES:
        assert stats.summarize(data)[key] == pytest.approx(float(np.percentile(data, q * 100)))


def test_single_sample_has_zero_spread():
    s = stats.summarize([7.0])
    assert (s["mean"], s["std"], s["p50"], s["p999"], s["cv"], s["mad"]) == (
        7.0,
        0.0,
        7.0,
        7.0,
        0.0,
        0.0,
    )


def test_std_and_mad_of_a_small_set():
    assert stats.std([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == pytest.approx(2.138089935299395)
    assert stats.mad([1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]) == 1.0
    assert stats.mean([1.0, 2.0, 4.0]) == pytest.approx(7 / 3)


def test_noisy_flag_follows_the_cv_limit():
    assert stats.is_noisy({"cv": 0.11})
    assert not stats.is_noisy({"cv": 0.10})
    assert stats.is_noisy({"cv": 0.05}, limit=0.01)


def test_median_standard_error_uses_the_robust_sigma():
    se = stats.median_standard_error({"n": 100, "mad": 1.0})
    assert se == pytest.approx(math.sqrt(math.pi / 2) * 1.4826 / 10)


def test_empty_samples_are_rejected_with_a_clear_message():
    with pytest.raises(InvalidInputError, match=r"at least one sample\. Got: an empty sequence"):
        stats.summarize([])


def test_non_finite_samples_are_rejected():
    with pytest.raises(InvalidInputError, match="finite samples"):
        stats.summarize([1.0, float("nan")])


def test_percentile_fraction_out_of_range_is_rejected():
    with pytest.raises(InvalidInputError, match=r"within \[0, 1\]. Got: 1.5"):
        stats.percentile([1.0], 1.5)
