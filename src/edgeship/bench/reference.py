"""A fixed reference kernel timed after every query: latency relative to the machine's speed.

A shared machine's speed jumps between states 1.5-2x apart from one second to the next, so
two runs of the same artifact may differ by up to 2x in p50. Timing a fixed kernel right
after every timed query, in the same process, measures the speed the machine had at that
moment; the query's time divided by the kernel's is a dimensionless latency that the
machine's state largely cancels out of.

The kernel is pure numpy, single-threaded (a 32x32 float32 matrix product stays below
OpenBLAS's threading threshold), deterministic (fixed seeded data) and of fixed size; it is
named and versioned (:data:`KERNEL`), and :mod:`edgeship.bench.compare` compares relative
latencies only between rows whose kernels have the same name.

Two statistics of the pairs ``(query_i, reference_i)`` are recorded:

* ``rel_p50``: the median of the per-pair ratios ``query_i / reference_i``: each query is
  divided by the speed of its own moment.
* ``rel_min``: ``min(query) / min(reference)``: the least disturbed query over the least
  disturbed kernel run.

Compare (:mod:`edgeship.bench.compare`) takes a row's value as the median of its interleaved
repeats' values (the ratio has no direction that load favours, so no minimum), with the
noise band ``hypot(r_base, r_new, e_base, e_new)``: ``r`` the range of a run's repeats'
values, ``e`` the standard error of ``rel_p50`` from its per-pair ratios' MAD (0 for
``rel_min``). A row without a reference kernel (a file from before reference timing, or the
server scenario) or timed against another kernel leaves the gate unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict

import numpy as np

from edgeship.bench.records import BenchRow, ReferenceInfo
from edgeship.bench.stats import MAD_TO_SIGMA, mad, percentile
from edgeship.errors import InvalidInputError

#: The relative-latency metrics a row carries (and ``row["repeats"]`` per repeat).
RELATIVE: tuple[Literal["rel_p50"], Literal["rel_min"]] = ("rel_p50", "rel_min")

#: Name and version of the kernel; change the version whenever the kernel changes.
KERNEL = "matmul-f32-32x32x6/v1"
_SIZE = 32
_PRODUCTS = 6


class Relative(TypedDict):
    """The machine-normalised latency of a run (:func:`relative`)."""

    reference: ReferenceInfo
    rel_p50: float
    rel_min: float
    rel_mad: float


def make_kernel() -> Callable[[], object]:
    """The reference kernel: six 32x32 float32 matrix products on fixed, seeded data."""
    rng = np.random.default_rng(0)
    a = rng.random((_SIZE, _SIZE), dtype=np.float32)
    out = np.empty_like(a)

    def kernel() -> object:
        for _ in range(_PRODUCTS):
            np.matmul(a, a, out=out)
        return out

    kernel()  # the first product allocates and warms BLAS; keep it out of the timings
    return kernel


def relative(query_ns: Sequence[int], reference_ns: Sequence[int]) -> Relative:
    """Machine-normalised latency from paired query and reference-kernel durations.

    Args:
        query_ns: each timed query's duration.
        reference_ns: the kernel's duration right after each query (same length).

    Returns:
        The kernel's own summary, ``rel_p50`` (median of ``query_i / reference_i``),
        ``rel_min`` (``min(query) / min(reference)``) and ``rel_mad`` (the per-pair ratios'
        median absolute deviation, for the median's standard error).

    Raises:
        InvalidInputError: the sequences are empty, of different lengths, or a reference
            duration is not positive.
    """
    if not query_ns or len(query_ns) != len(reference_ns):
        raise InvalidInputError(
            "Relative latency needs one reference duration per query. Got: "
            f"{len(query_ns)} queries and {len(reference_ns)} reference runs."
        )
    if min(reference_ns) <= 0:
        raise InvalidInputError(
            "Relative latency needs positive reference durations. Got: "
            f"{min(reference_ns)} ns; the clock is too coarse for the reference kernel."
        )
    ratios = [q / r for q, r in zip(query_ns, reference_ns, strict=True)]
    ref_us = [r / 1e3 for r in reference_ns]
    return {
        "reference": {
            "kernel": KERNEL,
            "n": len(ref_us),
            "p50_us": percentile(ref_us, 0.5),
            "min_us": min(ref_us),
        },
        "rel_p50": percentile(ratios, 0.5),
        "rel_min": min(query_ns) / min(reference_ns),
        "rel_mad": mad(ratios),
    }


def standard_error(rel_mad: float, n: int) -> float:
    """Standard error of ``rel_p50`` from the ratios' MAD (normal approximation)."""
    return math.sqrt(math.pi / 2) * MAD_TO_SIGMA * rel_mad / math.sqrt(max(n, 1))


def kernel_of(row: BenchRow) -> str | None:
    """The name and version of the reference kernel the row was timed against, if any."""
    reference = row.get("reference")
    return reference["kernel"] if reference else None


def comparable(metric: str, base: BenchRow, new: BenchRow) -> bool:
    """False for a relative metric of two rows timed against different kernels."""
    return metric not in RELATIVE or kernel_of(base) == kernel_of(new)


def repeat_values(row: BenchRow, metric: str) -> list[float]:
    """Each interleaved repeat's ``metric`` (``rel_p50``/``rel_min``); empty without repeats."""
    repeats: Mapping[str, Any] = row.get("repeats") or {}
    return list(repeats.get(metric) or [])


def relative_value(row: BenchRow, metric: str) -> float | None:
    """``rel_p50``/``rel_min``: the median of the repeats' values, else the row's."""
    values = repeat_values(row, metric)
    if values:
        return percentile(values, 0.5)
    value = row.get(metric)
    return float(value) if isinstance(value, int | float) and kernel_of(row) else None


def relative_noise(row: BenchRow, metric: str) -> float:
    """The range of the repeats' values, with ``rel_p50``'s standard error."""
    values = repeat_values(row, metric)
    drift = max(values) - min(values) if values else 0.0
    reference = row.get("reference")
    mad = row.get("rel_mad")
    if metric != "rel_p50" or not reference or not isinstance(mad, int | float):
        return drift
    return math.hypot(drift, standard_error(float(mad), reference["n"]))


def relative_hint(base: BenchRow, new: BenchRow) -> str:
    """Why compare could not gate on a relative latency of these two rows."""
    kernels = (kernel_of(base), kernel_of(new))
    if None in kernels:
        return (
            " (no reference kernel was timed there: a file from before reference timing, or "
            "the server scenario; bench both again to gate on it)"
        )
    return (
        f" (the runs timed different reference kernels, {kernels[0]} and {kernels[1]}, "
        "whose relative latencies do not compare; bench both with one edgeship version)"
    )
