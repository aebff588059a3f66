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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypedDict

import numpy as np

from edgeship.bench.records import ReferenceInfo
from edgeship.bench.stats import MAD_TO_SIGMA, mad, percentile
from edgeship.errors import InvalidInputError

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
