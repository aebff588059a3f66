"""The recommendation: fastest inside the budgets, and a useful explanation when none fits."""

from __future__ import annotations

from edgeship.pipeline.recommend import Budgets, candidates, pareto_front, recommend


def variant(name, size, acc, delta, status="ok"):
    return {
        "name": name,
        "status": status,
        "size_bytes": size,
        "parity": {"accuracy": acc, "accuracy_delta": delta},
        "runtimes": {"ai-edge-litert 2.3.0": "ok", "tflite-runtime 2.14.0": "error: op"},
    }


def row(name, backend, threads, p50, batch=1):
    return {
        "variant": name,
        "backend": backend,
        "threads": threads,
        "batch": batch,
        "scenario": "single-stream",
        "latency_ms": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.3},
        "cold_ms": {"p50": 200.0 + 1000 * p50},
        "peak_rss_mb": 60.4,
    }


VARIANTS = [
    variant("tflite-fp32", 400_000, 0.98, 0.0),
    variant("tflite-int8", 100_000, 0.975, -0.5),
    variant("tflite-int16x8", 200_000, 0.95, -3.0),
    variant("onnx-fp32", 410_000, 0.98, 0.0),
    variant("onnx-int8", 120_000, 0.0, -98.0, status="failed"),
]
ROWS = [
    row("tflite-fp32", "litert", 1, 0.020),
    row("tflite-fp32", "litert", 2, 0.018),
    row("tflite-int8", "litert", 1, 0.010),
    row("tflite-int8", "litert", 2, 0.012),
    row("tflite-int16x8", "litert", 1, 0.005),
    row("onnx-fp32", "onnxruntime", 1, 0.030),
    row("onnx-int8", "onnxruntime", 1, 0.001),
    row("tflite-int8", "litert", 1, 0.001, batch=8),
]


def test_failed_variants_and_other_batches_are_not_candidates():
    names = {(c.variant, c.threads) for c in candidates(VARIANTS, ROWS)}
    assert ("onnx-int8", 1) not in names
    assert len(names) == 6


def test_picks_fastest_within_accuracy_budget():
    rec = recommend(VARIANTS, ROWS, Budgets(max_accuracy_drop=1.0), keras_p50_ms=50.0)
    assert (rec.variant, rec.backend, rec.threads) == ("tflite-int8", "litert", 1)
    assert rec.speedup_vs_keras == 5000.0
    assert abs(rec.speedup_vs_fp32 - 1.8) < 1e-9
    assert rec.size_ratio_vs_fp32 == 4.0
    assert "5000.0x faster than Keras" in rec.reason
    assert "runs on ai-edge-litert 2.3.0" in rec.reason
    assert "1.80x faster than tflite-fp32" in rec.reason
    assert "does NOT run on tflite-runtime 2.14.0" in rec.reason
    assert "cold start 210 ms; peak RSS 60 MiB" in rec.reason


def test_looser_accuracy_budget_allows_the_faster_variant():
    rec = recommend(VARIANTS, ROWS, Budgets(max_accuracy_drop=5.0))
    assert rec.variant == "tflite-int16x8"


def test_size_budget_excludes_large_variants():
    rec = recommend(VARIANTS, ROWS, Budgets(max_accuracy_drop=0.1, max_size_mb=0.2))
    assert rec.variant is None
    assert rec.failed_budgets == ("accuracy", "size")
    assert "keep the most sensitive layers in float" in rec.reason
    assert "tflite-int8" in rec.reason


def test_latency_budget_miss_says_by_how_much():
    rec = recommend(VARIANTS, ROWS, Budgets(max_accuracy_drop=1.0, max_latency_ms=0.004))
    assert rec.variant is None
    assert rec.failed_budgets == ("accuracy", "latency")
    assert (
        "latency: the closest configuration inside the other budgets, tflite-int8 on litert "
        "with 1 thread(s), misses by 0.006 ms" in rec.reason
    )


def test_nothing_benchmarked_is_explained():
    rec = recommend(VARIANTS, [], Budgets())
    assert rec.variant is None
    assert "No variant converted and benchmarked successfully" in rec.reason


def test_pareto_front_drops_dominated_points():
    front = pareto_front(candidates(VARIANTS, ROWS))
    assert ("tflite-int8", "litert", 1) in front
    assert ("tflite-int16x8", "litert", 1) in front
    assert ("onnx-fp32", "onnxruntime", 1) not in front
    assert ("tflite-int8", "litert", 2) not in front


def test_a_variant_without_accuracy_fails_an_accuracy_budget():
    unmeasured = {**variant("tflite-fp16", 200_000, None, None), "parity": None}
    fastest = [*ROWS, row("tflite-fp16", "litert", 1, 0.0001)]
    rec = recommend([*VARIANTS, unmeasured], fastest, Budgets(max_accuracy_drop=0.1))
    assert rec.variant == "tflite-fp32"  # the fastest variant has no accuracy: not chosen
    alone = recommend([unmeasured], fastest, Budgets(max_accuracy_drop=0.1))
    assert alone.variant is None and alone.failed_budgets == ("accuracy",)
    assert "tflite-fp16 on litert" in alone.reason
    assert "has no measured accuracy" in alone.reason and "to fix:" in alone.reason
    no_budget = recommend([unmeasured], fastest, Budgets(max_accuracy_drop=None))
    assert no_budget.variant == "tflite-fp16" and "budget: none" not in no_budget.reason


def _mcu(name, arena, bundled=True, status="ok"):
    record = variant(name, 60_000, 0.975, -0.5, status=status)
    record["mcu"] = {"arena_bytes": arena, "flash_bytes": 60_000}
    if bundled:
        record["mcu"]["bundle"] = {"dir": f"{name}.bundle", "files": {}}
    return record


def test_a_board_budget_recommends_only_the_bundled_microcontroller_variant():
    variants = [*VARIANTS, _mcu("tflm-int8", 5600)]
    rows = [*ROWS, row("tflm-int8", "tflm", 1, 0.300), row("tflm-int8", "litert", 1, 0.011)]
    # Without a board the fastest variant wins, as before.
    assert recommend(variants, rows, Budgets()).variant == "tflite-int8"
    rec = recommend(variants, rows, Budgets(microcontroller="cortex-m4-256k"))
    assert (rec.variant, rec.backend) == ("tflm-int8", "litert")
    assert "tensor arena 5.5 KiB inside board budget cortex-m4-256k" in rec.reason
    assert "latency host-simulated in TFLite Micro" in rec.reason


def test_a_board_budget_with_no_bundle_inside_it_explains_why():
    # convert failed tflm-int8 on its arena budget: no bundle, status failed.
    variants = [*VARIANTS, _mcu("tflm-int8", 5600, bundled=False, status="failed")]
    rows = [*ROWS, row("tflm-int8", "tflm", 1, 0.300)]
    rec = recommend(variants, rows, Budgets(microcontroller="cortex-m0-32k"))
    assert rec.variant is None and "board" in rec.failed_budgets
    assert "is not bundled for TFLite Micro inside board budget cortex-m0-32k" in rec.reason
    assert "raise --max-arena-kb/--max-flash-kb" in rec.reason
