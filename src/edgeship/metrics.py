"""How close two sets of model outputs are, and how often they are right (numpy only).

One home for the numbers convert's parity check, bench's accuracy column and a model card's
test accuracy report, so they are computed the same way everywhere.
"""

from __future__ import annotations

import numpy as np


def is_scores(a: np.ndarray) -> bool:
    """True when ``a`` holds class scores: one row per sample, more than one class."""
    return a.ndim == 2 and a.shape[1] > 1


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows of ``scores`` whose arg-max equals the integer label."""
    return float(np.mean(np.asarray(scores).argmax(1) == labels))


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Fraction of rows where both sets of scores pick the same class."""
    return float(np.mean(np.asarray(reference).argmax(1) == np.asarray(candidate).argmax(1)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two flat vectors (1.0 when both are zero, 0.0 when one is)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """:func:`accuracy`, or None when these are not class scores for these labels (a label
    beyond the score width gives None, not 0)."""
    scores = np.asarray(scores)
    labels = np.asarray(labels).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0] or labels.dtype.kind not in "iu":
        return None
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        return None  # not indices into these scores (e.g. another output's labels)
    return accuracy(scores, labels)
