"""The pipeline report: Markdown and a self-contained HTML page, checked structurally."""

from __future__ import annotations

import base64
import itertools
from html.parser import HTMLParser

import pytest

from edgeship.bench import fields
from edgeship.bench.stats import quantiles
from edgeship.pipeline.recommend import Budgets, recommend
from edgeship.pipeline.report import bench_table, figures_of, render_html, render_markdown

from .test_recommend import ROWS, VARIANTS


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.tables = 0
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            self.tables += 1
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if value.startswith(("http:", "https:", "//")):
                self.external.append(value)


def results(rows=ROWS):
    rec = recommend(VARIANTS, rows, Budgets(), keras_p50_ms=40.0)
    return {
        "recommendation": rec.to_dict(),
        "model": {"path": "runs/x/model/model.keras", "test_accuracy": 0.98},
        "keras_p50_ms": 40.0,
        "variants": VARIANTS,
        "bench": [
            *rows,
            {
                "variant": "keras",
                "backend": "keras-call",
                "threads": 2,
                "batch": 1,
                "latency_ms": {"p50": 40.0},
            },
        ],
        "commands": ["edgeship pipeline --out runs/x"],
        "steps": [{"step": "train", "skipped": False, "seconds": 3.0}],
    }


def measured(rows=ROWS):
    """The rows as bench writes them: latency quantiles and samples/s for the figures."""
    out = []
    for r in rows:
        p50 = r["latency_ms"]["p50"]
        samples = [p50 * f for f in (0.9, 1.0, 1.0, 1.1, 1.4)]
        out.append({**r, "latency_quantiles_ms": quantiles(samples), "throughput_sps": 1000 / p50})
    return out


def test_html_is_self_contained_with_recommendation_tables_and_figures():
    pytest.importorskip("matplotlib")
    page = render_html(results(measured()))
    parser = _Collector()
    parser.feed(page)
    assert "recommendation" in parser.ids
    assert parser.tables == 2
    assert parser.external == []
    assert "Ship tflite-int8 on litert with 1 thread(s)." in page
    assert {"fig-pareto", "fig-latency", "fig-throughput", "fig-size"} <= parser.ids
    assert len(parser.images) >= 4
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_figure_labels_the_starred_rows():
    pytest.importorskip("matplotlib")
    doc = results(measured())
    header, rows = bench_table(doc)
    starred = {
        f"{r[header.index('variant')]}/{r[header.index('backend')]} t{r[header.index('threads')]}"
        for r in rows
        if r[-1] == "★"
    }
    (pareto,) = [f for f in figures_of(doc) if f.key == "pareto"]
    assert starred and set(pareto.labels) == starred
    for a, b in itertools.combinations(pareto.label_boxes, 2):
        assert not a.overlaps(b)


def test_latency_table_shows_cold_starts_and_max_qps_where_present():
    server = {
        **ROWS[0],
        "threads": 4,
        "scenario": "server",
        "max_qps": 1234.0,
        "latency_bound_ms": 5.0,
        "meets_bound": True,
    }
    header, rows = bench_table(results([*ROWS, server]))
    assert header[-1] == "Pareto"
    assert fields.headers(fields.pick(["cold_ms", "max_qps"])) == ["cold start ms", "max QPS"]
    cold = [r[header.index("cold start ms")] for r in rows]
    assert fields.number(200.0 + 1000 * 0.020) in cold  # tflite-fp32 t1: 200 + 1000 * p50
    line = next(r for r in rows if r[header.index("threads")] == "4")
    assert line[header.index("max QPS")] == "1,234"
    assert line[header.index("p99 bound ms")] == "5 met"
    plain_header, _ = bench_table(results())
    assert "max QPS" not in plain_header and "samples/s" not in plain_header
    text = render_markdown(results([*ROWS, server]))
    assert "- max QPS: the highest Poisson arrival rate" in text


def test_markdown_has_recommendation_first_and_every_variant():
    text = render_markdown(results())
    assert text.index("## Recommendation") < text.index("## Variants")
    for v in VARIANTS:
        assert f"| {v['name']} |" in text
    assert "| keras | keras-call |" in text
    assert "★" in text


def test_report_without_a_fit_explains_it():
    page = render_html(results(rows=[]))
    assert "No variant meets every budget." in page
    assert 'class="none"' in page
