"""Bench reports: Markdown, CSV, and one self-contained HTML file (figures as base64 PNG).

The table's columns come from :mod:`edgeship.bench.fields`, the figures from
:mod:`edgeship.bench.figures`. Figures need matplotlib (``pip install 'edgeship[plot]'``);
without it the HTML holds the tables and says how to get the figures.
"""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import Any

from edgeship.bench import by_device, fields, figures
from edgeship.bench.fields import placement_text as placement_text
from edgeship.bench.records import BenchResults, BenchRow, EnvBlock
from edgeship.bench.storage import CSV_COLUMNS, annotate_overhead
from edgeship.errors import ConfigError
from edgeship.fileio import atomic_write_text


def table_fields(rows: list[BenchRow]) -> tuple[fields.Field, ...]:
    """The columns of the results table: :data:`edgeship.bench.fields.FIELDS` minus the
    optional ones no row fills (a device column only for fleet runs, max QPS only after
    ``--find-max-qps``, cold starts only with ``--cold``, samples/s only for batched or
    offline runs)."""
    return fields.visible(ordered(rows))


def ordered(rows: list[BenchRow]) -> list[BenchRow]:
    """Rows that ran, sorted by artifact, backend, threads, batch; failures last."""
    ok = annotate_overhead([r.copy() for r in rows if not r.get("error")])
    ok.sort(key=_order)
    return ok


OVERHEAD_NOTE = (
    "vs raw µs: p50 minus the p50 of the raw backend loop on the same artifact "
    "(`--baseline raw`), i.e. what edgeship's runtime adds or saves per query."
)

_KIND_ORDER = {"keras": 0, "edgeship": 1, "raw": 2}


def _order(row: BenchRow) -> tuple[Any, ...]:
    kind = str(row.get("kind") or "edgeship")
    base = "" if kind == "keras" else str(row.get("variant")).removeprefix("raw:")
    return (
        str(row.get("device") or ""),
        base,
        str(row.get("backend")),
        str(row.get("scenario")),
        row.get("batch") or 0,
        row.get("threads") or 0,
        _KIND_ORDER.get(kind, 3),
        str(row.get("variant")),
    )


def failures(rows: list[BenchRow]) -> list[BenchRow]:
    """Rows whose configuration failed."""
    return [r for r in rows if r.get("error")]


def env_lines(env: EnvBlock) -> list[str]:
    """Short description of the machine and software."""
    versions = env.get("versions") or {}
    picked = ", ".join(
        f"{k} {v}"
        for k, v in versions.items()
        if k
        in (
            "python",
            "numpy",
            "ai-edge-litert",
            "tflite-runtime",
            "onnxruntime",
            "tensorflow",
            "tensorflow-cpu",
            "keras",
            "edgeship",
        )
    )
    timer = env.get("timer")
    resolution = timer.get("observed_resolution_ns") if timer else None
    floor = timer.get("loop_floor_ns") if timer else None
    return [
        f"CPU: {env.get('cpu')} ({env.get('cores')} logical cores, "
        f"{env.get('usable_cores')} usable)",
        f"OS: {env.get('os')}",
        f"Versions: {picked}",
        f"Git commit: {env.get('git_commit')}; measured {env.get('time')}",
        f"Timer: perf_counter_ns, observed resolution {resolution} ns, "
        f"empty-query floor {floor} ns (reported, not subtracted)",
    ]


def to_markdown(results: BenchResults, title: str = "Benchmark") -> str:
    """Markdown report: environment, the table, failures and warnings."""
    rows = results.get("results", [])
    lines = [f"# {title}", ""]
    lines += [f"- {line}" for line in env_lines(results.get("env") or {})]
    lines += ["", markdown_table(rows), ""]
    lines += [f"- {note}" for note in column_notes(rows)]
    if by_device.has_devices(rows):
        header, body = by_device.side_by_side(rows)
        lines += ["", "## Devices side by side", "", "| " + " | ".join(header) + " |"]
        lines += ["|---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(line) + " |" for line in body]
    failed = failures(rows)
    if failed:
        lines += ["", "## Failed configurations", ""]
        lines += [f"- {_failure(r)}" for r in failed]
    warnings = [w for w in results.get("warnings", []) if "failed:" not in w]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def markdown_table(rows: list[BenchRow]) -> str:
    """The results table in Markdown (also what ``edgeship bench`` prints)."""
    cols = table_fields(rows)
    out = [
        "| " + " | ".join(fields.headers(cols)) + " |",
        "|" + "|".join("---" if f.text else "---:" for f in cols) + "|",
    ]
    out += [
        "| " + " | ".join(c.replace("|", "\\|") for c in fields.cells(r, cols)) + " |"
        for r in ordered(rows)
    ]
    return "\n".join(out)


def column_notes(rows: list[BenchRow]) -> list[str]:
    """What the table's columns mean: the raw-overhead note and the shown headline columns."""
    return [OVERHEAD_NOTE, *fields.notes(table_fields(rows))]


def to_csv(results: BenchResults) -> str:
    """The results table as CSV (numbers unformatted)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = list(CSV_COLUMNS)
    writer.writerow(keys)
    for r in results.get("results", []):
        lat = dict(r.get("latency_ms") or {}, cold_p50_ms=fields.cold_p50(r))
        writer.writerow(
            ["" if (v := (lat.get(k) if k in lat else r.get(k))) is None else v for k in keys]
        )
    return buf.getvalue()


def html_grid(header: list[str], body: list[list[str]], text: list[bool]) -> str:
    """An HTML table in a horizontally scrolling box; ``text`` marks the left-aligned
    (word) columns, the others are numbers aligned right."""
    cls = ["" if t else ' class="n"' for t in text]
    head = "".join(f"<th{c}>{html.escape(h)}</th>" for c, h in zip(cls, header, strict=True))
    rows = "".join(
        "<tr>"
        + "".join(f"<td{c}>{html.escape(v)}</td>" for c, v in zip(cls, line, strict=True))
        + "</tr>"
        for line in body
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def html_table(rows: list[BenchRow]) -> str:
    """The results table in HTML, label columns left-aligned."""
    cols = table_fields(rows)
    body = [fields.cells(r, cols) for r in ordered(rows)]
    return html_grid(fields.headers(cols), body, [f.text for f in cols])


def to_html(results: BenchResults, title: str = "Benchmark") -> str:
    """One self-contained HTML page: environment, table, figures (when matplotlib is there)."""
    rows = results.get("results", [])
    side = _html_side_by_side(rows)
    env = "".join(f"<li>{html.escape(line)}</li>" for line in env_lines(results.get("env") or {}))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in column_notes(rows))
    plotted = figures.to_html(figures.build(by_device.for_plots(ordered(rows))))
    failed = "".join(f"<li>{html.escape(_failure(r))}</li>" for r in failures(rows))
    warnings = "".join(
        f"<li>{html.escape(w)}</li>" for w in results.get("warnings", []) if "failed:" not in w
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{env}</ul>
{html_table(rows)}
<ul class="notes">{notes}</ul>
{side}
{"<h2>Failed configurations</h2><ul>" + failed + "</ul>" if failed else ""}
{"<h2>Warnings</h2><ul>" + warnings + "</ul>" if warnings else ""}
<h2>Figures</h2>
{plotted}
</body></html>
"""


#: Page rules both reports share: a wide table scrolls inside its own box (never the
#: page), long unbroken words (paths, command lines) wrap, figures shrink to the page.
FIT_STYLE = """
.wide { overflow-x: auto; max-width: 100%; }
p, li, code, h1, h2, figcaption { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
figure { margin: 1.5em 0; max-width: 100%; } img { max-width: 100%; height: auto; }
"""

STYLE = (
    """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; }
td { white-space: nowrap; } td.n, th.n { text-align: right; }
th { background: #f0f0f0; }
.notes { font-size: 13px; color: #444; }
figcaption { font-size: 13px; color: #444; }
"""
    + FIT_STYLE
)


def _failure(row: BenchRow) -> str:
    where = f" on device {row['device']}" if row.get("device") else ""
    return (
        f"{row.get('variant')} on {row.get('backend')} (threads {row.get('threads')}){where}: "
        f"{row.get('error')}"
    )


def _html_side_by_side(rows: list[BenchRow]) -> str:
    if not by_device.has_devices(rows):
        return ""
    header, body = by_device.side_by_side(rows)
    text = [i == 0 for i in range(len(header))]
    return "<h2>Devices side by side</h2>" + html_grid(header, body, text)


def write_report(
    results: BenchResults, out: str | os.PathLike[str], title: str = "Benchmark"
) -> Path:
    """Write an ``.html``, ``.md`` or ``.csv`` report (by suffix), atomically."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        text = to_html(results, title)
    elif suffix in (".md", ".markdown"):
        text = to_markdown(results, title)
    elif suffix == ".csv":
        text = to_csv(results)
    else:
        raise ConfigError(
            f"Cannot tell the report format of {path}. Expected a .html, .md or .csv path."
        )
    return atomic_write_text(path, text)
