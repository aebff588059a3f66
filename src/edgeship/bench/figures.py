"""The figures of a report, chosen from what the results hold, and their HTML.

Used by the bench report (``edgeship report``, ``bench --html``) and the pipeline report:
accuracy vs latency (Pareto front labelled), latency distribution per configuration,
throughput vs threads and batch, size per variant, and the per-layer quantization error when
``convert --debug-quant`` left its CSVs beside the artifacts. Each figure is a PNG embedded
as a data URI, so the page stays one self-contained file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

from edgeship.bench import plots, quant_plot
from edgeship.bench.palette import Palette
from edgeship.bench.pareto_plot import ParetoPoint, pareto, points_from_rows
from edgeship.bench.plots import Figure
from edgeship.bench.records import BenchRow

NO_PLOTS = "<p>Plots need matplotlib: <code>pip install 'edgeship[plot]'</code>.</p>"


def sizes_from_rows(rows: Iterable[BenchRow]) -> list[tuple[str, int]]:
    """``(variant, size_bytes)`` of each measured edgeship artifact, once per variant."""
    seen: dict[str, int] = {}
    for r in rows:
        size = r.get("size_bytes")
        if r.get("kind", "edgeship") == "edgeship" and size:
            seen.setdefault(str(r.get("variant")), int(size))
    return list(seen.items())


def build(
    rows: Sequence[BenchRow],
    *,
    points: Sequence[ParetoPoint] | None = None,
    front: Sequence[int] | None = None,
    sizes: Sequence[tuple[str, int]] | None = None,
    quant_csvs: Iterable[str | Path] | None = None,
) -> list[Figure]:
    """Every figure the data allows, in reading order; empty without matplotlib.

    One palette (variant -> colour) is made here, in the order the variants first appear in
    ``rows`` (then ``points``, ``sizes`` and the quantization tables), the artifacts before
    the Keras and raw-loop baselines (so the strongest colours go to what may ship), and
    every figure draws each variant in its colour.

    Args:
        rows: bench rows that ran (no failures).
        points: the accuracy-vs-latency points (default: from ``rows``).
        front: indices of the Pareto-optimal ``points`` (default: computed).
        sizes: ``(variant, size_bytes)`` pairs (default: from ``rows``).
        quant_csvs: ``--debug-quant`` CSV files (default: those beside the rows' artifacts).
    """
    if not plots.available():
        return []
    if quant_csvs is None:
        quant_csvs = quant_plot.csvs_beside(str(r.get("artifact") or "") for r in rows)
    points = points_from_rows(rows) if points is None else points
    sizes = sizes_from_rows(rows) if sizes is None else sizes
    tables = quant_plot.find_tables(quant_csvs)
    palette = Palette.of(
        [
            *(str(r.get("variant")) for r in rows if r.get("kind", "edgeship") == "edgeship"),
            *(p.variant for p in points),
            *(name for name, _ in sizes),
            *(t.variant for t in tables),
            *(str(r.get("variant")) for r in rows),
        ]
    )
    made = [
        pareto(points, front=front, palette=palette),
        plots.latency_distribution(list(rows), palette),
        plots.throughput(list(rows), palette),
        plots.size_per_variant(sizes, palette),
        quant_plot.quant_error(tables, palette),
    ]
    return [f for f in made if f is not None]


def to_html(figures: Sequence[Figure]) -> str:
    """``<figure>`` elements, one per figure (PNG as a data URI), or a hint without plots."""
    if not figures:
        return NO_PLOTS if not plots.available() else "<p>No data to plot.</p>"
    out = []
    for f in figures:
        data = base64.b64encode(f.png).decode("ascii")
        caption = html.escape(f.caption)
        out.append(
            f'<figure class="plot" id="fig-{f.key}"><img alt="{caption}" '
            f'src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
        )
    return "\n".join(out)
