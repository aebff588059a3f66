"""Bench's headline numbers in every table: max QPS with its bound, cold starts, samples/s.

The console table, the Markdown and the HTML report are drawn from one column definition
(:mod:`edgeship.bench.fields`); real runs of ``edgeship bench`` check the numbers of the
results JSON reach all three.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

from edgeship.bench import fields, load_results
from edgeship.bench.report import markdown_table, table_fields, to_html
from edgeship.cli.main import main

FAST_ARGS = [
    *("--runs", "5", "--min-seconds", "0.02", "--warmup-seconds", "0.01", "--repeats", "1"),
    "--quiet",
]


class _Table(HTMLParser):
    """Header and body cells of the first HTML table."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[str] = []
        self.body: list[list[str]] = []
        self._cell: str | None = None
        self._tables = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._tables += 1
        if self._tables == 1 and tag in ("th", "td"):
            self._cell = ""
        if self._tables == 1 and tag == "tr":
            self.body.append([])

    def handle_endtag(self, tag):
        if self._cell is not None and tag in ("th", "td"):
            (self.head if tag == "th" else self.body[-1]).append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _md_rows(text: str) -> dict[str, list[str]]:
    """Markdown table lines by their cells; the header line under the key ``header``."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    rows = {}
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows["header" if i == 0 else line] = cells
    return rows


def _row_cells(table: dict[str, list[str]], row: dict, header: list[str]) -> list[str]:
    """The table line of ``row`` (matched on variant, batch and scenario)."""
    want = {"variant": row["variant"], "batch": str(row["batch"]), "scenario": row["scenario"]}
    for key, cells in table.items():
        if key != "header" and all(cells[header.index(k)] == v for k, v in want.items()):
            return cells
    raise AssertionError(f"no line for {want} in {list(table)}")


def test_offline_batches_and_cold_starts_reach_console_markdown_and_html(
    bench_artifacts, tmp_path, capsys
):
    art = str(bench_artifacts / "tflite-fp32.tflite")
    md, page, out = tmp_path / "b.md", tmp_path / "b.html", tmp_path / "b.json"
    args = ["--scenario", "offline", "--batch", "1,8", "--cold", "1", "--in-process"]
    outputs = ["--json", str(out), "--md", str(md), "--html", str(page)]
    assert main(["bench", art, *args, *outputs, *FAST_ARGS]) == 0
    console = capsys.readouterr().out
    rows = load_results(out)["results"]
    assert {r["batch"] for r in rows} == {1, 8}
    assert [r["batch"] for r in rows if r.get("cold_ms")] == [1]  # timed on the first batch
    table = _md_rows(md.read_text(encoding="utf-8"))
    header = table["header"]
    assert {"queries/s", "samples/s", "cold start ms"} <= set(header)
    assert "max QPS" not in header  # only after --find-max-qps
    parser = _Table()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.head == header  # one column definition for every table
    for row in rows:
        cells = _row_cells(table, row, header)
        assert cells[header.index("samples/s")] == fields.rate(row["throughput_sps"])
        assert cells[header.index("scenario")] == "offline"
        assert cells[header.index("queries/s")] == fields.rate(row["throughput_ips"])
        cold = row.get("cold_ms")
        assert cells[header.index("cold start ms")] == (fields.number(cold["p50"]) if cold else "–")
        assert "| " + " | ".join(cells) + " |" in console  # the console prints the same line
        assert cells in parser.body
    batched = next(r for r in rows if r["batch"] == 8)
    assert batched["throughput_sps"] == batched["throughput_ips"] * 8
    assert "samples/s: queries/s times the samples per query" in console
    assert 'id="fig-throughput"' in page.read_text(encoding="utf-8")  # vs batch


def test_find_max_qps_shows_the_rate_and_its_bound(bench_artifacts, tmp_path, capsys):
    art = str(bench_artifacts / "tflite-fp32.tflite")
    md = tmp_path / "s.md"
    args = ["--scenario", "server", "--find-max-qps", "--latency-bound-ms", "100"]
    command = ["bench", art, "--in-process", *args, "--json", "-", "--md", str(md)]
    assert main([*command, *FAST_ARGS]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["results"]
    assert row["probes"] and row["max_qps"] is not None and row["meets_bound"] is True
    table = _md_rows(md.read_text(encoding="utf-8"))
    header = table["header"]
    cells = _row_cells(table, row, header)
    assert cells[header.index("max QPS")] == fields.rate(row["max_qps"])
    assert cells[header.index("p99 bound ms")] == "100 met"
    assert "max QPS: the highest Poisson arrival rate" in md.read_text(encoding="utf-8")


def _row(**extra):
    return {
        "variant": "tflite-int8",
        "backend": "litert",
        "threads": 1,
        "batch": 1,
        "scenario": "single-stream",
        "latency_ms": {"p50": 0.5, "p90": 0.6, "p99": 0.7, "cv": 0.01},
        "throughput_ips": 2000.0,
        "throughput_sps": 2000.0,
        "error": None,
        **extra,
    }


def test_optional_columns_stay_out_of_plain_tables():
    plain = [_row(), _row(threads=2)]
    headers = fields.headers(table_fields(plain))
    for optional in ("samples/s", "max QPS", "p99 bound ms", "cold start ms", "device"):
        assert optional not in headers
    assert headers[:3] == ["variant", "backend", "delegate"] and "queries/s" in headers


def test_a_search_that_met_no_rate_says_so_and_fleet_rows_lead_with_the_device():
    rows = [_row(scenario="server", max_qps=None, latency_bound_ms=0.2, meets_bound=False)]
    text = markdown_table(rows)
    assert "none met the bound" in text and "0.2 missed" in text
    fleet = markdown_table([_row(device="pi5")])
    assert fleet.startswith("| device | variant |") and "| pi5 | tflite-int8 |" in fleet


def test_html_table_aligns_labels_left_and_numbers_right():
    page = to_html({"results": [_row(batch=4, throughput_sps=8000.0)]}, "t")
    assert "<td>tflite-int8</td>" in page
    assert '<td class="n">8,000</td>' in page
    assert '<th class="n">samples/s</th>' in page and "<th>variant</th>" in page
