"""Render the pipeline results as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import html
from typing import Any

from edgeship.bench import fields
from edgeship.bench import figures as bench_figures
from edgeship.bench.pareto_plot import ParetoPoint
from edgeship.bench.plots import Figure
from edgeship.bench.records import latency_value
from edgeship.bench.report import FIT_STYLE, html_grid
from edgeship.pipeline.recommend import candidates, pareto_front
from edgeship.pipeline.summary import PipelineResults, is_keras_row


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.2f}%"


def variant_table(results: PipelineResults) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the conversion/parity table."""
    header = [
        "variant",
        "status",
        "accuracy",
        "Δ acc (pts)",
        "max abs err",
        "cosine",
        "top-1 agree",
        "size (KiB)",
        "runs on",
        "convert (s)",
    ]
    rows = []
    for v in results["variants"]:
        parity = v.get("parity") or {}
        runtimes = v.get("runtimes") or {}
        ok = sorted(k for k, s in runtimes.items() if s == "ok")
        rows.append(
            [
                v["name"],
                v.get("status", "?"),
                _pct(parity.get("accuracy")),
                _fmt(parity.get("accuracy_delta"), 3),
                _fmt(parity.get("max_abs_error"), 3),
                _fmt(parity.get("cosine"), 6),
                _pct(parity.get("top1_agreement")),
                _fmt((v.get("size_bytes") or 0) / 1024, 4),
                ", ".join(ok) or "–",
                _fmt(v.get("seconds"), 3),
            ]
        )
    return header, rows


#: The bench columns of the pipeline's latency table (see :mod:`edgeship.bench.fields`).
BENCH_FIELDS = fields.pick(
    (
        "device",
        "variant",
        "backend",
        "threads",
        "batch",
        "p50",
        "p90",
        "p99",
        "throughput_ips",
        "throughput_sps",
        "max_qps",
        "latency_bound_ms",
        "load_ms",
        "first_ms",
        "cold_ms",
        "peak_rss_mb",
        "op_placement",
        "accuracy",
    )
)


def bench_table(results: PipelineResults) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the latency table, Pareto-optimal rows marked with ★."""
    bench = results["bench"]
    front = pareto_front(candidates(results["variants"], bench))
    ordered = sorted(
        bench, key=lambda r: (not is_keras_row(r), latency_value(r, "p50") or float("inf"))
    )
    cols = fields.visible(ordered, BENCH_FIELDS)
    rows = []
    for r in ordered:
        key = (r.get("variant"), r.get("backend"), int(r.get("threads") or 1))
        mark = "★" if key in front else ("error: " + str(r["error"])[:60] if r.get("error") else "")
        rows.append([*fields.cells(r, cols), mark])
    return [*fields.headers(cols), "Pareto"], rows


def column_notes(results: PipelineResults) -> list[str]:
    """What the latency table's headline columns mean (those it shows)."""
    return fields.notes(fields.visible(results["bench"], BENCH_FIELDS))


def figures_of(results: PipelineResults) -> list[Figure]:
    """The report's figures: accuracy vs latency (the same Pareto front as the table's ★),
    latency distributions, throughput vs threads and batch, size per variant, and the
    per-layer quantization error when ``--debug-quant`` CSVs lie beside the artifacts."""
    pool = candidates(results["variants"], results["bench"])
    keys = pareto_front(pool)
    points = [
        ParetoPoint(
            c.variant, c.backend, c.threads, c.p50_ms, 100 * (c.accuracy or 0), c.size_bytes
        )
        for c in pool
    ]
    front = [i for i, c in enumerate(pool) if (c.variant, c.backend, c.threads) in keys]
    sizes = [
        (str(v["name"]), int(v.get("size_bytes") or 0))
        for v in results["variants"]
        if v.get("status") == "ok"
    ]
    rows = [r for r in results["bench"] if not r.get("error")]
    return bench_figures.build(rows, points=points, front=front, sizes=sizes)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _headline(results: PipelineResults) -> str:
    per_device = results.get("recommendations") or {}
    if per_device:
        return " ".join(
            f"On {device}: ship {rec['variant']} on {rec['backend']} with {rec['threads']} "
            "thread(s)."
            if rec.get("variant")
            else f"On {device}: no variant meets every budget."
            for device, rec in per_device.items()
        )
    rec = results["recommendation"]
    if rec.get("variant"):
        return f"Ship {rec['variant']} on {rec['backend']} with {rec['threads']} thread(s)."
    return "No variant meets every budget."


def render_markdown(results: PipelineResults) -> str:
    """The full report as Markdown."""
    model = results["model"]
    parts = [
        "# edgeship pipeline report",
        f"## Recommendation\n\n**{_headline(results)}**\n\n{results['recommendation']['reason']}",
        f"## Source model\n\n`{model['path']}` — test accuracy {_pct(model.get('test_accuracy'))}"
        f"; Keras batch-1 p50 {_fmt(results.get('keras_p50_ms'))} ms.",
        "## Variants: conversion and parity\n\n" + _md_table(*variant_table(results)),
        "## Latency (single-stream, ★ = Pareto-optimal in accuracy, latency and size)\n\n"
        + _md_table(*bench_table(results))
        + "".join(f"\n- {note}" for note in column_notes(results)),
        "## Figures\n\nIn report.html: accuracy vs latency (Pareto front labelled), latency "
        "distributions, throughput vs threads and batch, size per variant, and per-layer "
        "quantization error when convert --debug-quant ran.",
        "## Reproduce\n\n```\n" + "\n".join(results["commands"]) + "\n```",
        "## Steps\n\n"
        + _md_table(
            ["step", "skipped", "seconds"],
            [
                [s["step"], str(s.get("skipped", False)), _fmt(s.get("seconds"), 3)]
                for s in results["steps"]
            ],
        ),
    ]
    return "\n\n".join(parts) + "\n"


#: Columns of words rather than numbers, left-aligned in the HTML tables.
TEXT_COLUMNS = frozenset(
    {f.header for f in fields.FIELDS if f.text} | {"status", "runs on", "Pareto"}
)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    return html_grid(header, rows, [h in TEXT_COLUMNS for h in header])


STYLE = (
    """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
td{white-space:nowrap}
th{background:#f3f3f3}th.n,td.n{text-align:right}
.rec{background:#eef8ee;border-left:6px solid #2a2;padding:1rem}
.none{background:#fff1f0;border-left:6px solid #c33;padding:1rem}
pre{background:#f6f6f6;padding:1rem}
.notes,figcaption{font-size:.85rem;color:#444}
"""
    + FIT_STYLE
)


def render_html(results: PipelineResults) -> str:
    """The full report as one self-contained HTML page (figures embedded as data URIs)."""
    rec = results["recommendation"]
    klass = "rec" if rec.get("variant") else "none"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in column_notes(results))
    model = results["model"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgeship pipeline report</title>
<style>{STYLE}</style></head><body>
<h1>edgeship pipeline report</h1>
<section id="recommendation" class="{klass}"><h2>{html.escape(_headline(results))}</h2>
<p>{html.escape(rec["reason"])}</p></section>
<h2>Source model</h2><p><code>{html.escape(str(model["path"]))}</code>: test accuracy
{_pct(model.get("test_accuracy"))}; Keras batch-1 p50 {_fmt(results.get("keras_p50_ms"))} ms.</p>
<h2>Variants: conversion and parity</h2>{_html_table(*variant_table(results))}
<h2>Latency</h2><p>Single-stream, batch 1 unless noted; ★ marks the Pareto front.</p>
{_html_table(*bench_table(results))}
<ul class="notes">{notes}</ul>
<h2>Figures</h2>
{bench_figures.to_html(figures_of(results))}
<h2>Reproduce</h2><pre>{html.escape(chr(10).join(results["commands"]))}</pre>
</body></html>
"""
