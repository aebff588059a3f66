"""Figures for the bench report (matplotlib, an optional extra), returned as PNG bytes.

* latency distribution per configuration (from the stored quantiles),
* accuracy vs latency with artifact size as marker area, the Pareto front marked,
* throughput vs threads and vs batch.
"""

from __future__ import annotations

import io
from typing import Any

from edgeship._lazy import is_available


def available() -> bool:
    """True when matplotlib is installed."""
    return is_available("matplotlib")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _name(row: dict[str, Any]) -> str:
    return f"{row.get('variant')} / {row.get('backend')} t{row.get('threads')} b{row.get('batch')}"


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


def latency_distribution(rows: list[dict[str, Any]]) -> bytes | None:
    """Box-and-whisker style plot per configuration from its latency quantiles."""
    rows = [r for r in rows if r.get("latency_quantiles_ms")]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    for y, row in enumerate(rows):
        q = row["latency_quantiles_ms"]
        ax.plot([q[0], q[-1]], [y, y], color="0.6", lw=1)
        ax.plot([q[25], q[75]], [y, y], color="tab:blue", lw=6, solid_capstyle="butt")
        ax.plot([q[50]], [y], "k|", ms=10)
        ax.plot([q[90]], [y], "o", color="tab:orange", ms=4)
        ax.plot([q[99]], [y], "x", color="tab:red", ms=5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_name(r) for r in rows], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("latency per query (ms, log): line min-max, bar p25-p75, | p50, o p90, x p99")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def pareto(rows: list[dict[str, Any]]) -> bytes | None:
    """Accuracy vs p50 latency; marker area is artifact size; the Pareto front is joined."""
    rows = [
        r
        for r in rows
        if r.get("accuracy") is not None and (r.get("latency_ms") or {}).get("p50") is not None
    ]
    if not rows:
        return None
    plt = _plt()
    pts = [
        (r["latency_ms"]["p50"], r["accuracy"] * 100, float(r.get("size_bytes") or 0)) for r in rows
    ]
    front = set(pareto_front([(lat, -acc) for lat, acc, _ in pts]))
    biggest = max(p[2] for p in pts) or 1.0
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (lat, acc, size) in enumerate(pts):
        ax.scatter(
            lat,
            acc,
            s=30 + 400 * size / biggest,
            alpha=0.6,
            color="tab:red" if i in front else "tab:blue",
            edgecolors="k",
        )
        ax.annotate(
            _name(rows[i]), (lat, acc), fontsize=6, xytext=(4, 4), textcoords="offset points"
        )
    line = sorted((pts[i][0], pts[i][1]) for i in front)
    ax.plot(
        [p[0] for p in line],
        [p[1] for p in line],
        "--",
        color="tab:red",
        lw=1,
        label="Pareto front",
    )
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency (ms, log)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy vs latency (marker area: artifact size; red: Pareto front)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def throughput(rows: list[dict[str, Any]]) -> bytes | None:
    """Throughput (samples/s) vs threads and vs batch, one line per artifact and backend."""
    rows = [r for r in rows if r.get("throughput_sps")]
    threads = {r.get("threads") for r in rows}
    batches = {r.get("batch") for r in rows}
    if not rows or (len(threads) < 2 and len(batches) < 2):
        return None
    axes_wanted = [
        (axis, other)
        for axis, other, values in (("threads", "batch", threads), ("batch", "threads", batches))
        if len(values) >= 2
    ]
    plt = _plt()
    fig, axes = plt.subplots(1, len(axes_wanted), figsize=(5 * len(axes_wanted), 4), squeeze=False)
    for ax, (axis, other) in zip(axes[0], axes_wanted, strict=True):
        series: dict[tuple[Any, ...], list[tuple[int, float]]] = {}
        for r in rows:
            if r.get(axis) is None:
                continue
            key = (r.get("variant"), r.get("backend"), r.get(other))
            series.setdefault(key, []).append((int(r[axis]), float(r["throughput_sps"])))
        for (variant, backend, fixed), pts in sorted(series.items(), key=lambda kv: str(kv[0])):
            if len(pts) < 2:
                continue
            pts.sort()
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "o-",
                label=f"{variant}/{backend} {other} {fixed}",
            )
        ticks = sorted({int(r[axis]) for r in rows if r.get(axis) is not None})
        ax.set_xticks(ticks)
        ax.set_xlabel(axis)
        ax.set_ylabel("samples/s")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    return _png(fig)
