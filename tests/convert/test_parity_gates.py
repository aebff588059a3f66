"""Every parity gate at its boundary, per variant, through the parity step's own code path.

Each variant's real artifact (the digits CNN converted once per session) is run by convert's
parity step (:func:`edgeship.convert.core._parity`: runtime, output alignment, compare) and
judged by :func:`edgeship.convert.parity.check` with the variant's own tolerance. The source
model's outputs are crafted around the artifact's real outputs so that each limit is hit on
purpose: an error just inside a limit passes, just outside fails, and one equal to it passes.
A gate made looser (a limit scaled up, a comparison flipped, a term dropped) turns a test red.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeship.convert.core import _parity
from edgeship.convert.parity import check, compare, run_artifact
from edgeship.convert.variants import VARIANTS, Tolerance, VariantSpec

#: Eval rows: one row is one accuracy point and 0.01 of top-1 agreement.
ROWS = 100
INSIDE, OUTSIDE = 0.99, 1.01
NAME = "probabilities"
#: convert's default accuracy gate, in percentage points.
MAX_DROP = 1.0


@dataclass(frozen=True)
class Case:
    """A variant's artifact, the eval inputs it ran and its real outputs."""

    spec: VariantSpec
    path: Path
    inputs: dict[str, np.ndarray]
    got: np.ndarray

    def gate(
        self,
        reference: np.ndarray,
        labels: np.ndarray | None = None,
        tolerance: Tolerance | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Run the parity step against ``reference``; its result and failure reasons."""
        result, _ = _parity(self.path, self.inputs, labels, [reference], [NAME])
        return result, check(result, tolerance or self.spec.tolerance, MAX_DROP)

    @property
    def labels(self) -> np.ndarray:
        """Labels the artifact gets all right."""
        return self.got.argmax(1)


@pytest.fixture(scope="module")
def cases(digits_all: Path, digits_samples: Any) -> dict[str, Case]:
    from edgeship.convert import read_manifest
    from edgeship.runtime import load

    inputs = {"image": digits_samples.single[:ROWS]}
    out: dict[str, Case] = {}
    for record in read_manifest(digits_all)["variants"]:
        assert record["status"] == "ok", record
        path = digits_all / record["file"]
        with load(path, verify=False) as engine:
            [got] = run_artifact(engine, inputs, [NAME])
        out[record["name"]] = Case(VARIANTS[record["name"]], path, inputs, got)
    assert sorted(out) == sorted(VARIANTS)
    return out


def variants_with(field: str) -> list[str]:
    """Variants whose tolerance sets ``field``."""
    return sorted(n for n, s in VARIANTS.items() if getattr(s.tolerance, field) is not None)


def case_of(field: str) -> Any:
    """Parametrize the ``case`` fixture over the variants that set ``field``."""
    return pytest.mark.parametrize("case", variants_with(field), indirect=True)


@pytest.fixture(params=sorted(VARIANTS))
def case(request: pytest.FixtureRequest, cases: dict[str, Case]) -> Case:
    return cases[request.param]


def shifted(got: np.ndarray, error: float) -> np.ndarray:
    """``got`` with one score of its most confident row moved up by ``error``: that is the
    largest error, the row keeps its class and the largest magnitude is unchanged."""
    ref = got.astype(np.float64)
    row = int(np.argmax(ref.max(1)))
    col = int(np.argmin(ref[row]))
    ref[row, col] += error
    assert ref[row, col] < ref[row].max() and np.abs(ref).max() == np.abs(got).max()
    return ref


def turned(got: np.ndarray, cosine: float) -> np.ndarray:
    """``got`` plus a perpendicular part, so that the two have exactly this cosine."""
    g = got.astype(np.float64).ravel()
    w = np.random.default_rng(0).standard_normal(g.size)
    w -= (w @ g) / (g @ g) * g
    w *= np.linalg.norm(g) / np.linalg.norm(w)
    return (g + np.sqrt(1.0 / cosine**2 - 1.0) * w).reshape(got.shape)


def swapped(got: np.ndarray, rows: int) -> np.ndarray:
    """``got`` with the two best classes swapped in the first ``rows`` rows that have a
    clear best class: those rows change their top-1 class, the others keep it."""
    ref = got.astype(np.float64)
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = np.flatnonzero(top2[:, 1] > top2[:, 0])[:rows]
    assert len(clear) == rows
    for r in clear:
        a, b = np.argsort(ref[r])[-2:]
        ref[r, [a, b]] = ref[r, [b, a]]
    return ref


def error_limit(tolerance: Tolerance, reference_max_abs: float, unlabeled: bool) -> float | None:
    atol, rtol = (
        (tolerance.unlabeled_atol, tolerance.unlabeled_rtol)
        if unlabeled
        else (tolerance.atol, tolerance.rtol)
    )
    return None if atol is None else atol + rtol * reference_max_abs


UNLABELED = " (error limit without labels)"


@case_of("atol")
def test_error_limit_just_inside_passes_just_outside_fails(case: Case) -> None:
    """The error limit gates with and without labels."""
    limit = error_limit(case.spec.tolerance, float(np.abs(case.got).max()), unlabeled=False)
    assert limit is not None
    for labels in (case.labels, None):
        result, reasons = case.gate(shifted(case.got, INSIDE * limit), labels)
        assert reasons == [] and result["max_abs_error"] == pytest.approx(INSIDE * limit)
        result, reasons = case.gate(shifted(case.got, OUTSIDE * limit), labels)
        error = result["max_abs_error"]
        assert error == pytest.approx(OUTSIDE * limit)
        assert reasons == [f"output {NAME!r} max_abs_error {error:.3g} > {limit:.3g}"]


@case_of("unlabeled_atol")
def test_error_limit_without_labels_gates_only_without_labels(case: Case) -> None:
    tolerance = case.spec.tolerance
    limit = error_limit(tolerance, float(np.abs(case.got).max()), unlabeled=True)
    assert limit is not None
    result, reasons = case.gate(shifted(case.got, INSIDE * limit))
    assert reasons == [] and result["error_limits"] == {"gate": True, "exceeded": []}
    result, reasons = case.gate(shifted(case.got, OUTSIDE * limit))
    error = result["max_abs_error"]
    expected = f"output {NAME!r} max_abs_error {error:.3g} > {limit:.3g}{UNLABELED}"
    assert reasons == [expected]
    assert result["error_limits"] == {"gate": True, "exceeded": [expected]}
    # with labels the same error is reported beside the accuracy, and does not fail
    result, reasons = case.gate(shifted(case.got, OUTSIDE * limit), case.labels)
    assert reasons == [] and result["error_limits"] == {"gate": False, "exceeded": [expected]}


def _cosine_reasons(reasons: list[str], unlabeled: bool) -> list[str]:
    return [
        r
        for r in reasons
        if r.startswith(f"output {NAME!r} cosine ") and r.endswith(UNLABELED) == unlabeled
    ]


@case_of("min_cosine")
def test_cosine_limit_just_inside_passes_just_outside_fails(case: Case) -> None:
    _cosine_boundary(case, unlabeled=False)


@case_of("unlabeled_min_cosine")
def test_cosine_limit_without_labels_just_inside_passes_just_outside_fails(case: Case) -> None:
    _cosine_boundary(case, unlabeled=True)


def _cosine_boundary(case: Case, unlabeled: bool) -> None:
    tolerance = case.spec.tolerance
    floor = tolerance.unlabeled_min_cosine if unlabeled else tolerance.min_cosine
    assert floor is not None
    labels = None if unlabeled else case.labels
    gap = 1.0 - floor
    result, reasons = case.gate(turned(case.got, 1.0 - INSIDE * gap), labels)
    assert result["cosine"] == pytest.approx(1.0 - INSIDE * gap, abs=gap * 1e-4)
    assert _cosine_reasons(reasons, unlabeled) == []
    result, reasons = case.gate(turned(case.got, 1.0 - OUTSIDE * gap), labels)
    cosine = result["cosine"]
    assert cosine == pytest.approx(1.0 - OUTSIDE * gap, abs=gap * 1e-4)
    expected = f"output {NAME!r} cosine {cosine:.6f} < {floor}"
    assert _cosine_reasons(reasons, unlabeled) == [expected + (UNLABELED if unlabeled else "")]


def test_a_limit_equal_to_the_measured_error_passes(case: Case) -> None:
    """The limits are inclusive: an error (cosine) exactly at the limit passes."""
    reference = turned(shifted(case.got, 0.01), 0.999)
    result, _ = case.gate(reference)
    error, cosine = result["max_abs_error"], result["cosine"]
    exact = Tolerance(atol=error, min_cosine=cosine, unlabeled_atol=error)
    exact = replace(exact, unlabeled_min_cosine=cosine)
    assert check(result, exact, MAX_DROP) == []
    looser = np.nextafter(error, 0.0)  # the next smaller float fails each error limit
    assert len(check(result, replace(exact, atol=looser, unlabeled_atol=looser), MAX_DROP)) == 2
    higher = np.nextafter(cosine, 2.0)
    tighter = replace(exact, min_cosine=higher, unlabeled_min_cosine=higher)
    assert len(check(result, tighter, MAX_DROP)) == 2


def test_top1_agreement_limit(case: Case) -> None:
    """No variant sets a top-1 limit by default; one that does holds it at the boundary."""
    assert case.spec.tolerance.min_top1_agreement is None
    tolerance = replace(case.spec.tolerance, min_top1_agreement=0.99)
    for rows, fails in ((0, False), (1, False), (2, True)):
        result, reasons = case.gate(swapped(case.got, rows), tolerance=tolerance)
        assert result["top1_agreement"] == (ROWS - rows) / ROWS
        agreement = [r for r in reasons if "top1_agreement" in r]
        assert agreement == ([f"output {NAME!r} top1_agreement 0.9800 < 0.99"] if fails else [])


def test_accuracy_gate(case: Case) -> None:
    """A drop of exactly the allowed points passes, one point more fails, a gain passes."""
    for rows, fails in ((1, False), (2, True)):
        reference = swapped(case.got, rows)
        result, reasons = case.gate(reference, reference.argmax(1))
        assert result["source_accuracy"] == 1.0 and result["accuracy_delta"] == -rows
        dropped = [r for r in reasons if r.startswith("accuracy dropped")]
        expected = (
            f"accuracy dropped {rows:.2f} points (source 1.0000, artifact "
            f"{1 - rows / ROWS:.4f}); max allowed drop is {MAX_DROP} points"
        )
        assert dropped == ([expected] if fails else [])
    result, reasons = case.gate(swapped(case.got, 5), case.labels)
    assert result["accuracy_delta"] == 5.0
    assert not [r for r in reasons if r.startswith("accuracy dropped")]


def test_nan_and_inf_in_the_artifact_output_fail(case: Case) -> None:
    for bad in (np.nan, np.inf, -np.inf):
        got = case.got.copy()
        got[3, 4] = bad
        result = compare([case.got], [got], [NAME])
        assert result["max_abs_error"] is None and result["cosine"] is None
        assert check(result, case.spec.tolerance, MAX_DROP) == [f"output {NAME!r} holds NaN or Inf"]
        assert result["error_limits"] == {"gate": True, "exceeded": []}


def test_shape_mismatch_fails(case: Case) -> None:
    result, reasons = case.gate(case.got[:, :9].astype(np.float64), case.labels[:ROWS])
    assert reasons == [f"output {NAME!r}: shape [{ROWS}, 10] != source [{ROWS}, 9]"]
    assert result["outputs"][0]["dtype"] == "float32"


def test_the_relative_part_scales_with_the_largest_magnitude_of_either_sign(case: Case) -> None:
    """Scores negated (all <= 0): the limit still grows with ``max|reference|``."""
    tolerance = case.spec.tolerance
    for unlabeled in (False, True):
        limit = error_limit(tolerance, float(np.abs(case.got).max()), unlabeled)
        if limit is None:
            continue
        result = compare([-shifted(case.got, INSIDE * limit)], [-case.got], [NAME])
        assert result["outputs"][0]["reference_max_abs"] == float(np.abs(case.got).max())
        assert check(result, tolerance, MAX_DROP) == []
