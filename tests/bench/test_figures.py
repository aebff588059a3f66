"""Report figures, checked by structure: which figures, their labels, and that no two labels
overlap (boxes measured on the rendered figure)."""

from __future__ import annotations

import csv
import itertools
import re
import sys

import pytest

from edgeship.bench import figures, plots, quant_plot
from edgeship.bench.pareto_plot import ParetoPoint, front_of, pareto, points_from_rows
from edgeship.bench.report import to_html, write_report
from edgeship.bench.stats import quantiles, summarize
from edgeship.bench.storage import make_results

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"
VARIANTS = {  # name: (p50 ms at 1 thread, size bytes); one accuracy for all, as on digits
    "tflite-fp32": (0.0117, 216_076),
    "tflite-fp16": (0.0116, 111_364),
    "tflite-dynamic": (0.0054, 61_184),
    "tflite-int8": (0.0122, 60_576),
    "tflite-int8-float-io": (0.0055, 60_912),
    "tflite-int16x8": (0.212, 67_280),
    "onnx-fp32": (0.0204, 217_124),
    "onnx-fp16": (0.0236, 114_276),
    "onnx-dynamic": (0.0319, 67_577),
    "onnx-int8": (0.0288, 74_789),
}


def _row(variant, threads, folder):
    p50, size = VARIANTS[variant]
    p50 *= 1.0 + 0.1 * (threads - 1)
    samples = [p50 * f for f in (0.95, 1.0, 1.0, 1.02, 1.1, 1.6)]
    fmt = variant.split("-")[0]
    return {
        "artifact": str(folder / f"{variant}.{'tflite' if fmt == 'tflite' else 'onnx'}"),
        "variant": variant,
        "kind": "edgeship",
        "backend": "litert" if fmt == "tflite" else "onnxruntime",
        "threads": threads,
        "batch": 1,
        "scenario": "single-stream",
        "latency_ms": summarize(samples),
        "latency_quantiles_ms": quantiles(samples),
        "throughput_ips": 1000 / p50,
        "throughput_sps": 1000 / p50,
        "size_bytes": size,
        "accuracy": 0.98056,
        "error": None,
    }


def _write_csv(path, header, lines):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(lines)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Twenty configurations like the digits demo, with --debug-quant CSVs beside them."""
    folder = tmp_path_factory.mktemp("artifacts")
    _write_csv(  # the columns convert.debug writes for TFLite
        folder / "tflite-int8.quant-debug.csv",
        ["op_name", "tensor_name", "scale", "zero_point", "rmse/scale"],
        [
            ["CONV_2D", "m/conv1/Relu;m/conv1/BiasAdd", "0.003", "-128", "0.36"],
            ["FULLY_CONNECTED", "m/logits/MatMul", "0.1", "-128", "0.34"],
            ["MAX_POOL_2D", "m/pool/MaxPool2d", "0.009", "-128", "2e-06"],
        ],
    )
    _write_csv(  # and for ONNX
        folder / "onnx-int8.quant-debug.csv",
        ["tensor_name", "node", "qdq_sqnr_db", "xmodel_sqnr_db"],
        [
            ["S/m/conv2/BiasAdd:0", "S/m/conv2/BiasAdd", "40.0", "39.5"],
            ["S/m/flatten/Reshape:0", "S/m/flatten/Reshape", "46.9", "37.9"],
        ],
    )
    rows = [_row(v, t, folder) for v in VARIANTS for t in (1, 2)]
    return rows, figures.build(rows)


def test_every_figure_is_drawn_in_reading_order(demo):
    _, made = demo
    assert [f.key for f in made] == ["pareto", "latency", "throughput", "size", "quant-error"]
    assert all(f.png.startswith(PNG) and f.caption for f in made)


def test_pareto_labels_the_whole_front_and_nothing_else_without_overlaps(demo):
    rows, made = demo
    fig = made[0]
    points = points_from_rows(rows)
    front = {points[i].label for i in front_of(points)}
    assert len(front) >= 2 and set(fig.labels) == front
    assert len(fig.labels) < len(points)  # the rest is told by colour and shape
    for a, b in itertools.combinations(fig.label_boxes, 2):
        assert not a.overlaps(b)


def test_a_crowded_front_keeps_every_placed_label_apart():
    """Twelve front points squeezed into a tiny corner of the plane."""
    points = [
        ParetoPoint(f"variant-{i}", "litert", 1, 0.010 + 0.0002 * i, 97.0 + 0.01 * i, 1000)
        for i in range(12)
    ]
    assert len(front_of(points)) == 12
    fig = pareto(points)
    assert fig is not None and len(fig.labels) >= 6
    for a, b in itertools.combinations(fig.label_boxes, 2):
        assert not a.overlaps(b), (a, b)


def test_latency_figure_names_every_configuration(demo):
    rows, made = demo
    latency = made[1]
    assert set(latency.labels) == {plots.name(r) for r in rows}


def test_size_figure_writes_each_size_in_kib(demo):
    _, made = demo
    size = made[3]
    assert sorted(size.labels) == sorted(f" {s / 1024:,.1f} KiB" for _, s in VARIANTS.values())
    for a, b in itertools.combinations(size.label_boxes, 2):
        assert not a.overlaps(b)


def test_quant_tables_rank_the_worst_layer_first(demo):
    rows, _ = demo
    found = quant_plot.find_tables(quant_plot.csvs_beside(r["artifact"] for r in rows))
    by_variant = {t.variant: t for t in found}
    assert set(by_variant) == {"tflite-int8", "onnx-int8"}
    assert by_variant["tflite-int8"].layers[0] == ("conv1/Relu", 0.36)  # higher is worse
    assert by_variant["onnx-int8"].layers[0] == ("m/flatten/Reshape", 37.9)  # lower is worse


def test_a_csv_without_numbers_in_its_first_metric_falls_back_to_sqnr(tmp_path):
    path = tmp_path / "tflite-dynamic.quant-debug.csv"
    _write_csv(
        path,
        ["op_name", "tensor_name", "rmse/scale", "sqnr_db"],
        [["CONV_2D", "m/conv1/Relu", "", "61.0"], ["FULLY_CONNECTED", "m/fc/MatMul", "", "48.5"]],
    )
    table = quant_plot.read_table(path)
    assert table is not None and table.metric == "sqnr_db"
    assert table.layers[0] == ("fc/MatMul", 48.5)
    (tmp_path / "empty.quant-debug.csv").write_text("")
    assert quant_plot.read_table(tmp_path / "empty.quant-debug.csv") is None


def test_bench_html_embeds_the_figures_and_stays_self_contained(demo, tmp_path):
    rows, _ = demo
    path = write_report(make_results({}, rows), tmp_path / "r.html", title="Digits")
    page = path.read_text(encoding="utf-8")
    ids = re.findall(r'<figure class="plot" id="fig-([a-z-]+)"><img', page)
    assert ids == ["pareto", "latency", "throughput", "size", "quant-error"]
    assert "http:" not in page and "https:" not in page


def test_without_matplotlib_the_page_keeps_its_tables_and_says_how_to_get_figures(
    demo, monkeypatch
):
    rows, _ = demo
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert not plots.available() and figures.build(rows) == []
    page = to_html(make_results({}, rows), "Digits")
    assert "<figure" not in page and "pip install 'edgeship[plot]'" in page
    assert "<th>variant</th>" in page


def _pixels(png):
    """The distinct ``#rrggbb`` colours of a PNG's opaque pixels."""
    import io

    from matplotlib.image import imread

    rgba = imread(io.BytesIO(png))
    opaque = rgba[rgba[..., 3] == 1.0][:, :3]
    return {"#" + "".join(f"{round(255 * c):02x}" for c in px) for px in opaque}


def test_each_variant_has_one_colour_in_every_figure_of_the_report(demo):
    _, made = demo
    seen: dict[str, set[str]] = {}
    for fig in made:
        assert fig.colours, f"{fig.key} records no variant colours"
        for variant, colour in fig.colours:
            seen.setdefault(variant, set()).add(colour)
    assert set(seen) == set(VARIANTS)
    assert {v: len(c) for v, c in seen.items()} == dict.fromkeys(VARIANTS, 1)
    one = {v: c.pop() for v, c in seen.items()}
    assert len(set(one.values())) == len(one)  # and no two variants share a colour
    drawn = {f.key: dict(f.colours) for f in made}
    for key in ("pareto", "latency", "throughput", "size"):
        assert set(drawn[key]) == set(VARIANTS), key  # every variant is drawn in each
    assert set(drawn["quant-error"]) == {"tflite-int8", "onnx-int8"}
    # the colours are the ones in the picture: every bar of the size figure is solid
    assert set(drawn["size"].values()) <= _pixels(made[3].png)


def test_the_palette_follows_the_order_of_the_results_and_keeps_grey_for_legends():
    from edgeship.bench.palette import COLOURS, NEUTRAL, Palette, neutral_handle

    palette = Palette.of(["onnx-int8", "tflite-fp32", "onnx-int8", "keras"])
    assert list(palette.colours) == ["onnx-int8", "tflite-fp32", "keras"]
    assert list(palette.colours.values()) == list(COLOURS[:3])
    grown = palette.extended(["tflite-fp32", "tflite-int8"])
    assert grown["onnx-int8"] == palette["onnx-int8"] and grown["tflite-int8"] == COLOURS[3]
    with pytest.raises(KeyError):
        palette["tflite-int8"]  # a figure drawing a variant the report's palette lacks
    for colour in COLOURS:  # no grey or black: those mean "not a variant"
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) > 30, colour
    handle = neutral_handle("backend litert", marker="o")
    assert handle.get_markerfacecolor() == "none" and handle.get_color() == NEUTRAL


def test_no_pareto_label_covers_a_marker(demo):
    crowded = [
        ParetoPoint(f"variant-{i}", "litert", 1, 0.010 + 0.0002 * i, 97.0 + 0.01 * i, 1000 * i)
        for i in range(1, 13)
    ]
    for fig in (demo[1][0], pareto(crowded)):
        assert fig is not None and fig.labels and fig.marker_boxes
        for label in fig.label_boxes:
            for marker in fig.marker_boxes:
                assert not label.overlaps(marker), (label, marker)


def test_captions_say_what_the_axes_and_the_marks_are(demo):
    captions = {f.key: f.caption for f in demo[1]}
    assert all(w in captions["pareto"] for w in ("ms", "%", "colour = variant", "marker area"))
    assert all(w in captions["latency"] for w in ("ms", "p25", "p99", "variant's colour"))
    assert all(w in captions["throughput"] for w in ("samples per second", "marker shape"))
    assert "KiB" in captions["size"] and "dB" in captions["quant-error"]


def test_artifacts_get_the_first_colours_and_baselines_come_after(demo):
    from edgeship.bench.palette import COLOURS

    rows, _ = demo
    keras = {**rows[0], "variant": "keras:call", "kind": "keras", "backend": "keras"}
    made = figures.build([keras, *rows[:4]], quant_csvs=[])
    latency = dict(next(f for f in made if f.key == "latency").colours)
    assert latency == {
        "tflite-fp32": COLOURS[0],
        "tflite-fp16": COLOURS[1],
        "keras:call": COLOURS[2],
    }
