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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edgeship._lazy import is_available
from edgeship.bench.palette import Palette, neutral_handle, palette_for, variant_handles
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
        colours: ``(variant, "#rrggbb")`` as read back from the drawn artists, once per
            variant drawn.
        marker_boxes: boxes of the data markers in figure pixels (where labels must not go).
    """

    key: str
    caption: str
    png: bytes
    labels: tuple[str, ...] = ()
    label_boxes: tuple[Box, ...] = ()
    colours: tuple[tuple[str, str], ...] = ()
    marker_boxes: tuple[Box, ...] = ()


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


def finish(
    fig: Any,
    key: str,
    caption: str,
    labels: Sequence[Any] = (),
    drawn: dict[str, Any] | None = None,
    marker_boxes: Sequence[Box] = (),
) -> Figure:
    """Render ``fig`` to PNG, record the boxes of the ``labels`` text artists and the colour
    of each variant's artist in ``drawn`` (variant -> a drawn patch, line or collection),
    close it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = tuple(t.get_text() for t in labels)
    boxes = tuple(text_box(t, renderer) for t in labels)
    colours = tuple((v, colour_of(a)) for v, a in (drawn or {}).items())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return Figure(key, caption, buf.getvalue(), texts, boxes, colours, tuple(marker_boxes))


def colour_of(artist: Any) -> str:
    """The ``#rrggbb`` fill of a drawn patch or collection, or the colour of a line."""
    from matplotlib.colors import to_hex

    if hasattr(artist, "get_facecolor"):
        face = artist.get_facecolor()
        return to_hex(face[0] if getattr(face, "ndim", 1) == 2 else face)
    return to_hex(artist.get_color())


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


def latency_distribution(rows: list[BenchRow], palette: Palette | None = None) -> Figure | None:
    """Box plot per configuration from its latency quantiles: box p25-p75 in the variant's
    colour, line at the median, whiskers p1-p99, dots at min and max; log axis."""
    rows = [r for r in rows if len(r.get("latency_quantiles_ms") or ()) == 101]
    if not rows:
        return None
    plt = pyplot()
    palette = palette_for(palette, [str(r.get("variant")) for r in rows])
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.4))
    drawn: dict[str, Any] = {}
    for y, row in enumerate(rows):
        q = row["latency_quantiles_ms"]
        variant = str(row.get("variant"))
        ax.plot([q[1], q[99]], [y, y], color="0.35", lw=1, zorder=1)
        ax.plot([q[1], q[1]], [y - 0.2, y + 0.2], color="0.35", lw=1)
        ax.plot([q[99], q[99]], [y - 0.2, y + 0.2], color="0.35", lw=1)
        bar = ax.barh(
            y, q[75] - q[25], left=q[25], height=0.6, color=palette[variant], edgecolor="0.2"
        )
        drawn.setdefault(variant, bar.patches[0])
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
        fig,
        "latency",
        "Latency per query in ms (log x axis), one row per configuration (variant / backend, "
        "threads t, batch b), box in the variant's colour: box p25 to p75, black line the "
        "median (p50), whiskers p1 to p99, grey dots the fastest and slowest query.",
        ax.get_yticklabels(),
        drawn,
    )


_Axis = Literal["threads", "batch"]
#: Line styles telling apart the values of the other setting (batch for threads, ...).
LINE_STYLES = ("-", "--", ":", "-.")
#: Marker shapes telling apart the backends.
BACKEND_MARKERS = ("o", "s", "^", "D", "v", "P")


def throughput(rows: list[BenchRow], palette: Palette | None = None) -> Figure | None:
    """Samples/s vs threads and vs batch: colour = variant, marker shape = backend, line
    style = the value of the other setting; the legend draws shapes and styles in black."""
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
    palette = palette_for(palette, [str(r.get("variant")) for r in rows])
    shapes = backend_shapes(str(r.get("backend")) for r in rows)
    drawn: dict[str, Any] = {}
    styles: dict[str, str] = {}
    for ax, (axis, other) in zip(axes[0], wanted, strict=True):
        series: dict[tuple[str, str, Any], list[tuple[int, float]]] = {}
        for r in rows:
            value, sps = r.get(axis), r.get("throughput_sps")
            if value is not None and sps is not None:
                key = (str(r.get("variant")), str(r.get("backend")), r.get(other))
                series.setdefault(key, []).append((int(value), float(sps)))
        fixed_values = sorted({k[2] for k in series}, key=lambda v: (v is None, v or 0))
        for (variant, backend, fixed), pts in sorted(series.items(), key=_series_order):
            if len(pts) < 2:
                continue
            pts.sort()
            ls = LINE_STYLES[fixed_values.index(fixed) % len(LINE_STYLES)]
            (line,) = ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color=palette[variant],
                ls=ls,
                marker=shapes[backend],
            )
            drawn.setdefault(variant, line)
            styles.setdefault(f"{other} {fixed}", ls)
        ticks = sorted({int(v) for r in rows if (v := r.get(axis)) is not None})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel(axis)
        ax.set_ylabel("samples/s (log scale)")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.set_title(f"Throughput vs {axis}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    if drawn:
        handles = variant_handles(palette, list(drawn))
        handles += [neutral_handle(f"backend {b}", marker=m) for b, m in shapes.items()]
        handles += [neutral_handle(label, ls=ls) for label, ls in styles.items()]
        fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    return finish(
        fig,
        "throughput",
        "Throughput in samples per second (log y axis) against the number of threads and "
        "against the batch size (log2 x axis); one line per variant, backend and value of "
        "the other setting: colour = variant, marker shape = backend, line style = the "
        "other setting's value.",
        drawn=drawn,
    )


def backend_shapes(backends: Iterable[str]) -> dict[str, str]:
    """One marker shape per backend, in first-seen order."""
    unique = dict.fromkeys(backends)
    return {b: BACKEND_MARKERS[i % len(BACKEND_MARKERS)] for i, b in enumerate(unique)}


def _series_order(item: tuple[tuple[str, str, Any], Any]) -> tuple[str, str, bool, float]:
    variant, backend, fixed = item[0]
    return (variant, backend, fixed is None, float(fixed or 0))


def size_per_variant(
    sizes: Sequence[tuple[str, int]], palette: Palette | None = None
) -> Figure | None:
    """Horizontal bars of artifact size (KiB) per variant in its colour, smallest first,
    value at each bar."""
    sizes = sorted({n: int(s) for n, s in sizes if s}.items(), key=lambda kv: kv[1])
    if not sizes:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.34 * len(sizes) + 1.2))
    palette = palette_for(palette, [n for n, _ in sizes])
    kib = [s / 1024 for _, s in sizes]
    bars = ax.barh(range(len(sizes)), kib, color=[palette[n] for n, _ in sizes])
    drawn = {n: patch for (n, _), patch in zip(sizes, bars.patches, strict=True)}
    texts = [ax.text(v, i, f" {v:,.1f} KiB", va="center", fontsize=8) for i, v in enumerate(kib)]
    ax.set_yticks(range(len(sizes)), [n for n, _ in sizes], fontsize=9)
    ax.set_ylim(len(sizes) - 0.5, -0.5)
    ax.set_xlim(0, max(kib) * 1.25)
    ax.set_xlabel("artifact size (KiB)")
    ax.set_title("Size per variant", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return finish(
        fig,
        "size",
        "Artifact file size in KiB, one bar per variant in its colour, smallest first, the "
        "size written at the end of each bar.",
        texts,
        drawn,
    )
