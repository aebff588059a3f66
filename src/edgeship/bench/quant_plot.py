"""Per-layer quantization error from ``convert --debug-quant``'s CSVs, read and drawn.

``convert --debug-quant`` writes ``<variant>.quant-debug.csv`` beside the artifact: for
TFLite one line per tensor with ``rmse/scale`` (the error in quantization steps; higher is
worse), for ONNX one line per activation with ``xmodel_sqnr_db`` (signal-to-quantization-noise
ratio against the float model in dB; lower is worse).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeship.bench.palette import Palette, palette_for
from edgeship.bench.plots import Figure, finish, pyplot

SUFFIX = ".quant-debug.csv"
#: Layers shown per variant (the worst ones).
MAX_LAYERS = 12

#: CSV column, axis label and whether a higher value is worse, per format.
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("rmse/scale", "RMSE / quantization step (higher is worse)", True),
    ("xmodel_sqnr_db", "SQNR vs float model, dB (lower is worse)", False),
    ("sqnr_db", "SQNR vs float model, dB (lower is worse)", False),
)


@dataclass(frozen=True)
class QuantTable:
    """One variant's per-layer errors, worst first."""

    variant: str
    metric: str
    axis_label: str
    higher_is_worse: bool
    layers: tuple[tuple[str, float], ...]


def short_layer(name: str) -> str:
    """A readable layer name: the first of TFLite's ``;``-joined names, without the model's
    own scope prefix and ONNX's ``:0`` output suffix."""
    first = name.split(";")[0].removesuffix(":0")
    parts = [p for p in first.split("/") if p and p != "StatefulPartitionedCall"]
    return "/".join(parts[1:] if len(parts) > 2 else parts)[-48:] or name[:48]


def read_table(path: str | Path) -> QuantTable | None:
    """The errors in one CSV, by its first metric column that holds numbers; None when
    there is none."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    for column, label, higher_is_worse in METRICS:
        if column not in rows[0]:
            continue
        values = []
        for row in rows:
            try:
                value = float(row[column])
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                values.append((short_layer(row.get("tensor_name") or "?"), value))
        if not values:
            continue
        values.sort(key=lambda kv: -kv[1] if higher_is_worse else kv[1])
        variant = path.name.removesuffix(SUFFIX)
        return QuantTable(variant, column, label, higher_is_worse, tuple(values[:MAX_LAYERS]))
    return None


def find_tables(paths: Iterable[str | Path]) -> list[QuantTable]:
    """Tables of the CSVs among ``paths`` (files) that exist and can be read, by variant."""
    tables: dict[str, QuantTable] = {}
    for p in paths:
        path = Path(p)
        if path.is_file() and path.name.endswith(SUFFIX):
            try:
                table = read_table(path)
            except (OSError, UnicodeDecodeError, csv.Error):
                continue
            if table is not None and table.layers:
                tables.setdefault(table.variant, table)
    return [tables[k] for k in sorted(tables)]


def csvs_beside(artifacts: Iterable[str | Path]) -> list[Path]:
    """The ``--debug-quant`` CSVs in the folders of ``artifacts``."""
    folders = dict.fromkeys(Path(a).parent for a in artifacts if a)
    return [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*" + SUFFIX))]


def quant_error(tables: Sequence[QuantTable], palette: Palette | None = None) -> Figure | None:
    """One panel of horizontal bars per variant, in the variant's colour: its worst layers."""
    if not tables:
        return None
    plt = pyplot()
    palette = palette_for(palette, [t.variant for t in tables])
    drawn: dict[str, Any] = {}
    tallest = max(len(t.layers) for t in tables)
    cols = min(len(tables), 2)
    rows = math.ceil(len(tables) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(7 * cols, rows * (0.3 * tallest + 1.3)), squeeze=False
    )
    for ax in axes.flat[len(tables) :]:
        ax.set_visible(False)
    for ax, table in zip(axes.flat, tables, strict=False):
        names = [n for n, _ in table.layers]
        values = [v for _, v in table.layers]
        bars = ax.barh(range(len(values)), values, color=palette[table.variant])
        drawn[table.variant] = bars.patches[0]
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlabel(table.axis_label, fontsize=9)
        ax.set_title(f"{table.variant}: worst layers first", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return finish(
        fig,
        "quant-error",
        "Per-layer quantization error from convert --debug-quant, one panel per variant in its "
        "colour, one bar per layer, worst layers first: for TFLite the RMSE in quantization "
        "steps (higher is worse), for ONNX the SQNR against the float model in dB (lower is "
        "worse), as each panel's x axis says; full names in each <variant>.quant-debug.csv "
        "beside the artifacts.",
        drawn=drawn,
    )
