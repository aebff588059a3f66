"""Render the pipeline results as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from edgeship.bench.report import placement_text
from edgeship.pipeline.recommend import candidates, pareto_front
from edgeship.pipeline.summary import is_keras_row


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.2f}%"


def variant_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
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


def bench_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the latency table, Pareto-optimal rows marked with ★."""
    front = pareto_front(candidates(results["variants"], results["bench"]))
    header = [
        "variant",
        "backend",
        "threads",
        "batch",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "inferences/s",
        "load ms",
        "first ms",
        "cold start ms",
        "peak RSS MiB",
        "ops placed",
        "accuracy",
        "Pareto",
    ]
    rows = []
    ordered = sorted(
        results["bench"],
        key=lambda r: (not is_keras_row(r), (r.get("latency_ms") or {}).get("p50") or float("inf")),
    )
    for r in ordered:
        lat = r.get("latency_ms") or {}
        key = (r.get("variant"), r.get("backend"), int(r.get("threads") or 1))
        rows.append(
            [
                (f"{r['device']}:" if r.get("device") else "") + str(r.get("variant")),
                str(r.get("backend")),
                _fmt(r.get("threads")),
                _fmt(r.get("batch")),
                _fmt(lat.get("p50")),
                _fmt(lat.get("p90")),
                _fmt(lat.get("p99")),
                _fmt(r.get("throughput_ips"), 5),
                _fmt(r.get("load_ms")),
                _fmt(r.get("first_ms")),
                _fmt((r.get("cold_ms") or {}).get("p50")),
                _fmt(r.get("peak_rss_mb")),
                placement_text(r["op_placement"]) if r.get("op_placement") else "–",
                _pct(r.get("accuracy")),
                "★"
                if key in front
                else ("error: " + str(r["error"])[:60] if r.get("error") else ""),
            ]
        )
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _headline(results: dict[str, Any]) -> str:
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


def render_markdown(results: dict[str, Any]) -> str:
    """The full report as Markdown."""
    model = results["model"]
    parts = [
        "# edgeship pipeline report",
        f"## Recommendation\n\n**{_headline(results)}**\n\n{results['recommendation']['reason']}",
        f"## Source model\n\n`{model['path']}` — test accuracy {_pct(model.get('test_accuracy'))}"
        f"; Keras batch-1 p50 {_fmt(results.get('keras_p50_ms'))} ms.",
        "## Variants: conversion and parity\n\n" + _md_table(*variant_table(results)),
        "## Latency (single-stream, ★ = Pareto-optimal in accuracy, latency and size)\n\n"
        + _md_table(*bench_table(results)),
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


def pareto_plot_png(results: dict[str, Any]) -> bytes | None:
    """Accuracy vs latency (marker area = size), Pareto front outlined; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pool = candidates(results["variants"], results["bench"])
    if not pool:
        return None
    front = pareto_front(pool)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    biggest = max(c.size_bytes for c in pool) or 1
    for c in pool:
        on_front = (c.variant, c.backend, c.threads) in front
        ax.scatter(
            c.p50_ms,
            100 * (c.accuracy or 0),
            s=30 + 300 * c.size_bytes / biggest,
            alpha=0.7,
            edgecolors="black" if on_front else "none",
            linewidths=1.5 if on_front else 0,
        )
        if not on_front and c.threads != 1:
            continue  # label the front and the 1-thread points only, to stay readable
        ax.annotate(
            f"{c.variant}/{c.backend}/t{c.threads}",
            (c.p50_ms, 100 * (c.accuracy or 0)),
            fontsize=6,
            rotation=30,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency, batch 1 (ms, log)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy vs latency (marker area = size; outlined = Pareto front)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.rec{background:#eef8ee;border-left:6px solid #2a2;padding:1rem}
.none{background:#fff1f0;border-left:6px solid #c33;padding:1rem}
pre{background:#f6f6f6;padding:1rem;overflow-x:auto}
"""


def render_html(results: dict[str, Any]) -> str:
    """The full report as one self-contained HTML page (plot embedded as a data URI)."""
    rec = results["recommendation"]
    klass = "rec" if rec.get("variant") else "none"
    png = pareto_plot_png(results)
    plot = (
        f'<img id="pareto" alt="accuracy vs latency" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}">'
        if png
        else "<p>(install matplotlib for plots)</p>"
    )
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
<h2>Accuracy, latency and size</h2>{plot}
<h2>Reproduce</h2><pre>{html.escape(chr(10).join(results["commands"]))}</pre>
</body></html>
"""
