"""Accuracy vs latency with size as marker area: the Pareto front labelled, the rest by legend.

Only the front's points get a text label; each is placed at the first of several offsets
where it stays inside the axes and clear of every other label and of every marker, its own
included (a leader line joins each to its point); a label with no such place is left out
rather than drawn over a marker (the report's tables hold every number). Colour tells the
variant (the report's palette) and marker shape the backend; the legend draws the shapes
hollow in black so they never read as a variant.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from edgeship.bench.palette import Palette, neutral_handle, palette_for, variant_handles
from edgeship.bench.plots import (
    Box,
    Figure,
    backend_shapes,
    box_of,
    finish,
    pareto_front,
    plain_log_ticks,
    pyplot,
    text_box,
)
from edgeship.bench.records import BenchRow, latency_value

#: Label offsets tried in turn, in points from the marker centre.
OFFSETS: tuple[tuple[float, float], ...] = tuple(
    (dx * r, dy * r)
    for r in (1, 1.5, 2, 3, 4, 5, 6, 8)
    for dx, dy in ((8, 6), (8, -10), (-8, 6), (-8, -10), (0, 12), (0, -14))
)
#: Front points labelled at most (the fastest ones); more would not stay readable.
MAX_LABELS = 30


@dataclass(frozen=True)
class ParetoPoint:
    """One configuration on the accuracy-vs-latency plane."""

    variant: str
    backend: str
    threads: int
    latency_ms: float
    accuracy_pct: float
    size_bytes: int
    batch: int = 1

    @property
    def label(self) -> str:
        """``tflite-int8/litert t1`` (`` b8`` appended for a batch of 8)."""
        text = f"{self.variant}/{self.backend} t{self.threads}"
        return text if self.batch == 1 else f"{text} b{self.batch}"


def front_of(points: Sequence[ParetoPoint]) -> list[int]:
    """Indices of the points no other is faster, more accurate and smaller than."""
    return pareto_front([(p.latency_ms, -p.accuracy_pct, p.size_bytes) for p in points])


def points_from_rows(rows: Sequence[BenchRow]) -> list[ParetoPoint]:
    """Bench rows with an accuracy and a p50; batch 1 rows where there are any (a query of
    one sample), the single-stream ones among them where there are any."""
    single = [r for r in rows if (r.get("batch") or 1) == 1] or list(rows)
    single = [r for r in single if r.get("scenario") in (None, "single-stream")] or single
    out = []
    for r in single:
        if r.get("kind", "edgeship") != "edgeship":
            continue  # Keras and raw-loop baselines are references, not artifacts to ship
        p50, accuracy = latency_value(r, "p50"), r.get("accuracy")
        if accuracy is None or p50 is None or r.get("error"):
            continue
        out.append(
            ParetoPoint(
                str(r.get("variant")),
                str(r.get("backend")),
                int(r.get("threads") or 1),
                float(p50),
                100.0 * float(accuracy),
                int(r.get("size_bytes") or 0),
                int(r.get("batch") or 1),
            )
        )
    return out


def pareto(
    points: Sequence[ParetoPoint],
    title: str = "Accuracy vs latency",
    front: Collection[int] | None = None,
    palette: Palette | None = None,
) -> Figure | None:
    """The figure, or None without points.

    Args:
        points: the configurations.
        title: the figure's title (the legend's meaning is appended).
        front: indices of the Pareto-optimal points (default: :func:`front_of`).
        palette: the report's variant colours (default: one for these points alone).
    """
    if not points:
        return None
    plt = pyplot()
    front = set(front_of(points) if front is None else front)
    biggest = max(p.size_bytes for p in points) or 1
    area = [40 + 360 * p.size_bytes / biggest for p in points]
    palette = palette_for(palette, [p.variant for p in points])
    shapes = backend_shapes(p.backend for p in points)
    fig, ax = plt.subplots(figsize=(10, 5.6), layout="constrained")
    drawn: dict[str, Any] = {}
    for i, p in enumerate(points):
        drawn[p.variant] = ax.scatter(
            p.latency_ms,
            p.accuracy_pct,
            s=area[i],
            marker=shapes[p.backend],
            color=palette[p.variant],
            alpha=0.75,
            edgecolors="black" if i in front else "white",
            linewidths=1.8 if i in front else 0.6,
            zorder=3,
        )
    line = sorted((points[i].latency_ms, points[i].accuracy_pct) for i in front)
    ax.plot([q[0] for q in line], [q[1] for q in line], "--", color="0.3", lw=1, zorder=2)
    ax.set_xscale("log")
    _pad_limits(ax, points)
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("p50 latency per query (ms, log scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{title}: outlined and labelled = Pareto front; marker area = size", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    handles = variant_handles(palette, [p.variant for p in points])
    handles += [neutral_handle(f"backend {b}", marker=m) for b, m in shapes.items()]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, title="colour / shape")
    fig.canvas.draw()
    fig.set_layout_engine("none")  # keep the axes where they are while labels are placed
    order = sorted(front, key=lambda i: points[i].latency_ms)[:MAX_LABELS]
    labels = _place_labels(ax, points, order, area)
    return finish(
        fig,
        "pareto",
        "Accuracy on the evaluation set in % (y) against p50 latency per query in ms (x, log "
        "scale); each point is one configuration (variant, backend, threads) at batch 1, "
        "colour = variant, marker shape = backend, marker area = artifact size. The Pareto "
        "front (points no other is faster, more accurate and smaller than) is outlined, joined "
        "by a dashed line and labelled; the tables list every point.",
        labels,
        drawn,
        _marker_boxes(ax, points, area),
    )


def _pad_limits(ax: Any, points: Sequence[ParetoPoint]) -> None:
    lats = [p.latency_ms for p in points]
    accs = [p.accuracy_pct for p in points]
    lo, hi = min(lats), max(lats)
    span = max(math.log10(hi / lo), 0.3)
    ax.set_xlim(lo / 10 ** (0.15 * span), hi * 10 ** (0.35 * span))
    a_lo, a_hi = min(accs), max(accs)
    pad = max(a_hi - a_lo, 0.5) * 0.25
    ax.set_ylim(a_lo - pad, a_hi + pad)


def _marker_boxes(ax: Any, points: Sequence[ParetoPoint], area: Sequence[float]) -> list[Box]:
    dpi = ax.figure.dpi
    boxes = []
    for p, s in zip(points, area, strict=True):
        x, y = ax.transData.transform((p.latency_ms, p.accuracy_pct))
        r = math.sqrt(s) / 2 * dpi / 72
        boxes.append(Box(x - r, y - r, x + r, y + r))
    return boxes


def _place_labels(
    ax: Any, points: Sequence[ParetoPoint], order: Sequence[int], area: Sequence[float]
) -> list[Any]:
    renderer = ax.figure.canvas.get_renderer()
    frame = box_of(ax, renderer)
    markers = _marker_boxes(ax, points, area)
    placed: list[tuple[Any, Box]] = []
    for i in order:
        p = points[i]
        text = None
        for dx, dy in OFFSETS:
            text = ax.annotate(
                p.label,
                (p.latency_ms, p.accuracy_pct),
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                va="bottom" if dy > 0 else "top",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                arrowprops={"arrowstyle": "-", "color": "0.35", "lw": 0.7, "shrinkB": 4},
                zorder=4,
            )
            box = text_box(text, renderer)
            clear = box.inside(frame) and not any(box.overlaps(b, 2) for _, b in placed)
            if clear and not any(box.overlaps(m) for m in markers):
                break
            text.remove()
            text = None
        if text is not None:
            placed.append((text, text_box(text, renderer)))
    return [t for t, _ in placed]
