"""The pipeline report: Markdown and a self-contained HTML page, checked structurally."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

from edgeship.pipeline.recommend import Budgets, recommend
from edgeship.pipeline.report import render_html, render_markdown

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


def test_html_is_self_contained_with_recommendation_tables_and_plot():
    page = render_html(results())
    parser = _Collector()
    parser.feed(page)
    assert "recommendation" in parser.ids
    assert parser.tables == 2
    assert parser.external == []
    assert "Ship tflite-int8 on litert with 1 thread(s)." in page
    (src,) = parser.images
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


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
