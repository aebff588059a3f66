"""Bench reports: Markdown, and one self-contained HTML file (plots as base64 PNG).

Plots need matplotlib (``pip install 'edgeship[plot]'``); without it the HTML holds the
tables and says how to get the plots.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
from pathlib import Path
from typing import Any

from edgeship.bench import by_device, plots
from edgeship.bench.storage import CSV_COLUMNS, annotate_overhead
from edgeship.errors import ConfigError
from edgeship.fileio import atomic_write_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("variant", "variant"),
    ("backend", "backend"),
    ("delegate", "delegate"),
    ("op_placement", "ops placed"),
    ("threads", "threads"),
    ("batch", "batch"),
    ("scenario", "scenario"),
    ("p50", "p50 ms"),
    ("p90", "p90 ms"),
    ("p99", "p99 ms"),
    ("overhead_vs_raw_us", "vs raw µs"),
    ("cv", "CV"),
    ("throughput_ips", "inferences/s"),
    ("load_ms", "load ms"),
    ("first_ms", "first ms"),
    ("peak_rss_mb", "peak RSS MiB"),
    ("size_bytes", "size KiB"),
    ("accuracy", "accuracy %"),
)


def placement_text(placement: dict[str, int]) -> str:
    """``3/7 delegated (2 partitions)`` for TFLite, ``CPU 13`` or ``CUDA 40, CPU 2`` for ONNX
    Runtime's nodes per execution provider."""
    if "delegated" in placement:
        return (
            f"{placement['delegated']}/{placement['ops']} delegated "
            f"({placement.get('partitions', 0)} partitions)"
        )
    return ", ".join(
        f"{name.removesuffix('ExecutionProvider')} {count}" for name, count in placement.items()
    )


def _fmt(value: Any, key: str) -> str:
    if value is None:
        return "–"
    if key == "op_placement":
        return placement_text(value)
    if key == "size_bytes":
        return f"{value / 1024:.1f}"
    if key == "accuracy":
        return f"{value * 100:.2f}"
    if key == "cv":
        return f"{value:.2f}"
    if key == "overhead_vs_raw_us":
        return f"{value:+.1f}"
    if key.startswith("throughput"):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def columns(rows: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """:data:`COLUMNS`, led by a device column when rows come from several devices."""
    return (by_device.DEVICE_COLUMN, *COLUMNS) if by_device.has_devices(rows) else COLUMNS


def cells(row: dict[str, Any], cols: tuple[tuple[str, str], ...] = COLUMNS) -> list[str]:
    """One row's table cells, in ``cols`` order (default :data:`COLUMNS`)."""
    lat = row.get("latency_ms") or {}
    out = []
    for key, _ in cols:
        value = lat.get(key) if key in ("p50", "p90", "p99", "cv") else row.get(key)
        out.append(_fmt(value, key))
    return out


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that ran, sorted by artifact, backend, threads, batch; failures last."""
    ok = annotate_overhead([dict(r) for r in rows if not r.get("error")])
    ok.sort(key=_order)
    return ok


OVERHEAD_NOTE = (
    "vs raw µs: p50 minus the p50 of the raw backend loop on the same artifact "
    "(`--baseline raw`), i.e. what edgeship's runtime adds or saves per query."
)

_KIND_ORDER = {"keras": 0, "edgeship": 1, "raw": 2}


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
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


def failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose configuration failed."""
    return [r for r in rows if r.get("error")]


def env_lines(env: dict[str, Any]) -> list[str]:
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
    timer = env.get("timer") or {}
    return [
        f"CPU: {env.get('cpu')} ({env.get('cores')} logical cores, "
        f"{env.get('usable_cores')} usable)",
        f"OS: {env.get('os')}",
        f"Versions: {picked}",
        f"Git commit: {env.get('git_commit')}; measured {env.get('time')}",
        f"Timer: perf_counter_ns, observed resolution {timer.get('observed_resolution_ns')} ns, "
        f"empty-query floor {timer.get('loop_floor_ns')} ns (reported, not subtracted)",
    ]


def to_markdown(results: dict[str, Any], title: str = "Benchmark") -> str:
    """Markdown report: environment, the table, failures and warnings."""
    rows = results.get("results", [])
    lines = [f"# {title}", ""]
    lines += [f"- {line}" for line in env_lines(results.get("env") or {})]
    lines += ["", markdown_table(rows), "", OVERHEAD_NOTE]
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


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results table in Markdown."""
    cols = columns(rows)
    left = 6 + len(cols) - len(COLUMNS)
    head = [name for _, name in cols]
    out = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|",
    ]
    out += ["| " + " | ".join(cells(r, cols)) + " |" for r in ordered(rows)]
    return "\n".join(out)


def to_csv(results: dict[str, Any]) -> str:
    """The results table as CSV (numbers unformatted)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = list(CSV_COLUMNS)
    writer.writerow(keys)
    for r in results.get("results", []):
        lat = r.get("latency_ms") or {}
        writer.writerow(
            ["" if (v := (lat.get(k) if k in lat else r.get(k))) is None else v for k in keys]
        )
    return buf.getvalue()


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(alt)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def to_html(results: dict[str, Any], title: str = "Benchmark") -> str:
    """One self-contained HTML page: environment, table, plots (when matplotlib is there)."""
    rows = results.get("results", [])
    ok = ordered(rows)
    cols = columns(rows)
    head = "".join(f"<th>{html.escape(name)}</th>" for _, name in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(r, cols)) + "</tr>" for r in ok
    )
    side = _html_side_by_side(rows)
    ok = by_device.for_plots(ok)
    env = "".join(f"<li>{html.escape(line)}</li>" for line in env_lines(results.get("env") or {}))
    if plots.available():
        figures = "".join(
            [
                _img(plots.latency_distribution(ok), "Latency distribution per configuration"),
                _img(plots.pareto(ok), "Accuracy vs latency vs size, Pareto front in red"),
                _img(plots.throughput(ok), "Throughput vs threads and batch"),
            ]
        )
    else:
        figures = "<p>Plots need matplotlib: <code>pip install 'edgeship[plot]'</code>.</p>"
    failed = "".join(f"<li>{html.escape(_failure(r))}</li>" for r in failures(rows))
    warnings = "".join(
        f"<li>{html.escape(w)}</li>" for w in results.get("warnings", []) if "failed:" not in w
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}
th {{ background: #f0f0f0; }} td:nth-child(-n+6) {{ text-align: left; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{env}</ul>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p>{html.escape(OVERHEAD_NOTE)}</p>
{side}
{"<h2>Failed configurations</h2><ul>" + failed + "</ul>" if failed else ""}
{"<h2>Warnings</h2><ul>" + warnings + "</ul>" if warnings else ""}
<h2>Plots</h2>
{figures}
</body></html>
"""


def _failure(row: dict[str, Any]) -> str:
    where = f" on device {row['device']}" if row.get("device") else ""
    return (
        f"{row.get('variant')} on {row.get('backend')} (threads {row.get('threads')}){where}: "
        f"{row.get('error')}"
    )


def _html_side_by_side(rows: list[dict[str, Any]]) -> str:
    if not by_device.has_devices(rows):
        return ""
    header, body = by_device.side_by_side(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in body
    )
    return (
        "<h2>Devices side by side</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"
    )


def write_report(
    results: dict[str, Any], out: str | os.PathLike[str], title: str = "Benchmark"
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
