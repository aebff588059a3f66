"""Summary statistics of latency samples, in the standard library only.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, the
default of numpy and of R's ``quantile``): for sorted samples ``x[0..n-1]`` and a fraction
``q``, the rank is ``h = (n - 1) * q`` and the value ``x[floor(h)] + (h - floor(h)) *
(x[floor(h) + 1] - x[floor(h)])``. ``std`` is the sample standard deviation (``n - 1`` in
the denominator; 0 for a single sample). ``cv`` is ``std / mean``. ``mad`` is the median
absolute deviation from the median (unscaled), a spread that outliers barely move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgeship.bench.records import LatencySummary
from edgeship.errors import InvalidInputError

#: Percentiles reported for every latency distribution: (key, fraction).
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
)

#: Coefficient of variation above which a result is flagged as noisy.
HIGH_CV = 0.10

#: Scale that turns the MAD into a standard-deviation estimate for normal data.
MAD_TO_SIGMA = 1.4826


def _checked(samples: Sequence[float]) -> list[float]:
    values = [float(s) for s in samples]
    if not values:
        raise InvalidInputError("Statistics need at least one sample. Got: an empty sequence.")
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise InvalidInputError("Statistics need finite samples. Got: NaN or infinity.")
    return values


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 <= q <= 1) of ``samples`` by linear interpolation (type 7)."""
    if not 0.0 <= q <= 1.0:
        raise InvalidInputError(f"Percentile fraction must be within [0, 1]. Got: {q}")
    ordered = sorted(_checked(samples))
    return _sorted_percentile(ordered, q)


def _sorted_percentile(ordered: list[float], q: float) -> float:
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def mean(samples: Sequence[float]) -> float:
    """Arithmetic mean."""
    values = _checked(samples)
    return math.fsum(values) / len(values)


def std(samples: Sequence[float]) -> float:
    """Sample standard deviation (``n - 1``); 0.0 for one sample."""
    values = _checked(samples)
    if len(values) < 2:
        return 0.0
    m = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def mad(samples: Sequence[float]) -> float:
    """Median absolute deviation from the median (unscaled)."""
    values = _checked(samples)
    med = _sorted_percentile(sorted(values), 0.5)
    return _sorted_percentile(sorted(abs(v - med) for v in values), 0.5)


def summarize(samples: Sequence[float]) -> LatencySummary:
    """Summary of latency samples (any unit; results keep it).

    Returns:
        ``{"n", "mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max", "cv", "mad"}``.
    """
    values = _checked(samples)
    ordered = sorted(values)
    m = math.fsum(values) / len(values)
    s = std(values)
    p50, p90, p95, p99, p999 = (_sorted_percentile(ordered, q) for _, q in PERCENTILES)
    return {
        "n": len(values),
        "mean": m,
        "std": s,
        "min": ordered[0],
        "p50": p50,
        "p90": p90,
        "p95": p95,
        "p99": p99,
        "p999": p999,
        "max": ordered[-1],
        "cv": s / m if m > 0 else 0.0,
        "mad": _sorted_percentile(sorted(abs(v - p50) for v in values), 0.5),
    }


def is_noisy(summary: LatencySummary, limit: float = HIGH_CV) -> bool:
    """True when the coefficient of variation of ``summary`` exceeds ``limit``."""
    return float(summary.get("cv", 0.0)) > limit


def median_standard_error(summary: LatencySummary) -> float:
    """Standard error of the median from a robust sigma (``1.4826 * MAD``).

    For normal data the median's standard error is ``sqrt(pi / 2) * sigma / sqrt(n)``.
    The MAD keeps one stray outlier from widening the band.
    """
    n = max(int(summary.get("n", 1)), 1)
    sigma = MAD_TO_SIGMA * float(summary.get("mad", summary.get("std", 0.0)) or 0.0)
    return math.sqrt(math.pi / 2) * sigma / math.sqrt(n)


def quantiles(samples: Sequence[float], points: int = 101) -> list[float]:
    """``points`` evenly spaced quantiles from min to max (a compact distribution for plots)."""
    ordered = sorted(_checked(samples))
    if points < 2:
        raise InvalidInputError(f"quantiles needs points >= 2. Got: {points}")
    return [_sorted_percentile(ordered, i / (points - 1)) for i in range(points)]
