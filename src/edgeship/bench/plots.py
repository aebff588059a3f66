"""Figures for the reports (matplotlib, an optional extra), rendered as PNG.

Each figure comes back as a :class:`Figure`: the PNG bytes, a caption, and the texts and pixel
boxes of the labels drawn next to data points, so a test can check the labels are there and
do not overlap without looking at the picture.

* latency distribution per configuration (box plot from the stored quantiles, log axis),
* throughput (samples/s) vs threads and vs batch,
* artifact size per variant.

The accuracy-vs-latency figure lives in :mod:`edgeship.bench.pareto_plot`, the per-layer
quantization error in :mod:`edgeship.bench.quant_plot`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edgeship._lazy import is_available
from edgeship.bench.records import BenchRow

#: Resolution of every PNG (pixels per inch).
DPI = 110


def available() -> bool:
    """True when matplotlib is installed."""
    return is_available("matplotlib")


@dataclass(frozen=True)
class Box:
    """A rectangle in figure pixels (origin bottom left)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, pad: float = 0.0) -> bool:
        """True when the two boxes, each grown by ``pad`` pixels, intersect."""
        return not (
            self.x1 + pad <= other.x0
            or other.x1 + pad <= self.x0
            or self.y1 + pad <= other.y0
            or other.y1 + pad <= self.y0
        )

    def inside(self, other: Box) -> bool:
        """True when this box lies within ``other``."""
        return (
            self.x0 >= other.x0
            and self.y0 >= other.y0
            and self.x1 <= other.x1
            and self.y1 <= other.y1
        )


@dataclass(frozen=True)
class Figure:
    """One rendered figure.

    Attributes:
        key: what it shows (``latency``, ``pareto``, ``throughput``, ``size``, ``quant-error``).
        caption: one sentence under the picture.
        png: the image.
        labels: texts written next to data points.
        label_boxes: their boxes in figure pixels, in ``labels`` order.
    """

    key: str
    caption: str
    png: bytes
    labels: tuple[str, ...] = ()
    label_boxes: tuple[Box, ...] = ()


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def box_of(artist: Any, renderer: Any) -> Box:
    """The pixel box of a drawn artist."""
    ext = artist.get_window_extent(renderer)
    return Box(float(ext.x0), float(ext.y0), float(ext.x1), float(ext.y1))


def text_box(text: Any, renderer: Any) -> Box:
    """The pixel box of a text artist's text alone (an annotation's arrow left out)."""
    from matplotlib.text import Annotation, Text

    if isinstance(text, Annotation):
        text.update_positions(renderer)  # an annotation is placed only when drawn
    ext = Text.get_window_extent(text, renderer)
    return Box(float(ext.x0), float(ext.y0), float(ext.x1), float(ext.y1))


def finish(fig: Any, key: str, caption: str, labels: Sequence[Any] = ()) -> Figure:
    """Render ``fig`` to PNG, record the boxes of the ``labels`` text artists, close it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = tuple(t.get_text() for t in labels)
    boxes = tuple(text_box(t, renderer) for t in labels)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return Figure(key, caption, buf.getvalue(), texts, boxes)


def plain_log_ticks(axis: Any) -> None:
    """Tick labels such as ``0.01`` and ``0.012`` on a log axis (call after setting limits).

    Minor ticks get labels only on an axis spanning two decades or less, where the
    major ticks alone would be too few.
    """
    import math

    from matplotlib.ticker import FuncFormatter, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    decades = math.log10(hi / lo) if lo > 0 else math.inf
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if decades < 0.5:  # a narrow axis: label every minor tick
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    elif decades < 2.1:  # one or two decades: 2x, 3x and 5x a power of ten
        axis.set_minor_formatter(
            FuncFormatter(lambda v, _: f"{v:g}" if _lead(v) in (2, 3, 5) else "")
        )
    else:
        axis.set_minor_formatter(NullFormatter())


def _lead(value: float) -> float:
    """The leading digit of a tick value (``0.03`` -> 3)."""
    import math

    return round(value / 10 ** math.floor(math.log10(value)), 6)


def pareto_front(points: list[tuple[float, ...]]) -> list[int]:
    """Indices of points no other point dominates, every coordinate lower-is-better."""
    front = []
    for i, p in enumerate(points):
        dominated = any(
            all(a <= b for a, b in zip(q, p, strict=True)) and q != p
            for j, q in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def name(row: BenchRow) -> str:
    """A configuration's label: ``tflite-int8 / litert t1 b1``."""
    return f"{row.get('variant')} / {row.get('backend')} t{row.get('threads')} b{row.get('batch')}"


def colors(keys: Sequence[str]) -> dict[str, Any]:
    """One distinct colour per key (up to 20, then they repeat)."""
    unique = list(dict.fromkeys(keys))
    cmap = pyplot().get_cmap("tab20" if len(unique) > 10 else "tab10")
    return {k: cmap(i % cmap.N) for i, k in enumerate(unique)}


def latency_distribution(rows: list[BenchRow]) -> Figure | None:
    """Box plot per configuration from its latency quantiles: box p25-p75, line at the
    median, whiskers p1-p99, dots at min and max; log axis."""
    rows = [r for r in rows if len(r.get("latency_quantiles_ms") or ()) == 101]
    if not rows:
        return None
    plt = pyplot()
    palette = colors([str(r.get("variant")) for r in rows])
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.4))
    for y, row in enumerate(rows):
        q = row["latency_quantiles_ms"]
        color = palette[str(row.get("variant"))]
        ax.plot([q[1], q[99]], [y, y], color="0.35", lw=1, zorder=1)
        ax.plot([q[1], q[1]], [y - 0.2, y + 0.2], color="0.35", lw=1)
        ax.plot([q[99], q[99]], [y - 0.2, y + 0.2], color="0.35", lw=1)
        ax.barh(y, q[75] - q[25], left=q[25], height=0.6, color=color, edgecolor="0.2", zorder=2)
        ax.plot([q[50], q[50]], [y - 0.3, y + 0.3], color="black", lw=2, zorder=3)
        ax.plot([q[0], q[100]], [y, y], ".", color="0.5", ms=3, zorder=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name(r) for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xscale("log")
    lows = [r["latency_quantiles_ms"][0] for r in rows if r["latency_quantiles_ms"][0] > 0]
    if lows:
        ax.set_xlim(min(lows) / 1.4, max(r["latency_quantiles_ms"][100] for r in rows) * 1.4)
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("latency per query (ms, log scale)")
    ax.set_title(
        "Latency per configuration: box p25-p75, black line p50, whiskers p1-p99, dots min/max",
        fontsize=10,
    )
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    return finish(
        fig, "latency", "Latency distribution per configuration (log axis).", ax.get_yticklabels()
    )


_Axis = Literal["threads", "batch"]


def throughput(rows: list[BenchRow]) -> Figure | None:
    """Samples/s vs threads and vs batch, one line per variant and backend."""
    rows = [r for r in rows if r.get("throughput_sps")]
    axes_pairs: tuple[tuple[_Axis, _Axis], ...] = (("threads", "batch"), ("batch", "threads"))
    wanted = [
        (axis, other)
        for axis, other in axes_pairs
        if len({r.get(axis) for r in rows if r.get(axis) is not None}) >= 2
    ]
    if not rows or not wanted:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(
        1, len(wanted), figsize=(5 * len(wanted) + 3, 4.6), squeeze=False, layout="constrained"
    )
    palette = colors([f"{r.get('variant')}/{r.get('backend')}" for r in rows])
    for ax, (axis, other) in zip(axes[0], wanted, strict=True):
        series: dict[tuple[str, Any], list[tuple[int, float]]] = {}
        for r in rows:
            value, sps = r.get(axis), r.get("throughput_sps")
            if value is not None and sps is not None:
                key = (f"{r.get('variant')}/{r.get('backend')}", r.get(other))
                series.setdefault(key, []).append((int(value), float(sps)))
        fixed_values = sorted({k[1] for k in series}, key=lambda v: (v is None, v or 0))
        for (label, fixed), pts in sorted(series.items(), key=lambda kv: _series_order(kv[0])):
            if len(pts) < 2:
                continue
            pts.sort()
            style = fixed_values.index(fixed)  # line style and marker tell the fixed value
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color=palette[label],
                ls=("-", "--", ":", "-.")[style % 4],
                marker="osD^v"[style % 5],
                label=f"{label} ({other} {fixed})",
            )
        ticks = sorted({int(v) for r in rows if (v := r.get(axis)) is not None})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel(axis)
        ax.set_ylabel("samples/s")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.set_title(f"Throughput vs {axis}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    for ax in axes[0][:-1]:
        more = ax.get_legend_handles_labels()
        handles, labels = [*more[0], *handles], [*more[1], *labels]
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return finish(fig, "throughput", "Throughput (samples/s) vs threads and vs batch size.")


def _series_order(key: tuple[str, Any]) -> tuple[str, bool, float]:
    label, fixed = key
    return (label, fixed is None, float(fixed or 0))


def size_per_variant(sizes: Sequence[tuple[str, int]]) -> Figure | None:
    """Horizontal bars of artifact size (KiB) per variant, smallest first, value at each bar."""
    sizes = sorted({n: int(s) for n, s in sizes if s}.items(), key=lambda kv: kv[1])
    if not sizes:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.34 * len(sizes) + 1.2))
    palette = colors([n.split("-")[0] for n, _ in sizes])
    kib = [s / 1024 for _, s in sizes]
    ax.barh(range(len(sizes)), kib, color=[palette[n.split("-")[0]] for n, _ in sizes])
    texts = [ax.text(v, i, f" {v:,.1f} KiB", va="center", fontsize=8) for i, v in enumerate(kib)]
    ax.set_yticks(range(len(sizes)), [n for n, _ in sizes], fontsize=9)
    ax.set_ylim(len(sizes) - 0.5, -0.5)
    ax.set_xlim(0, max(kib) * 1.25)
    ax.set_xlabel("artifact size (KiB)")
    ax.set_title("Size per variant", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return finish(fig, "size", "Artifact size per variant.", texts)
