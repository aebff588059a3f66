"""Assemble ``results.json`` (schema ``edgeship.pipeline/1``) from the steps' outputs."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any, TypedDict

from edgeship.bench.records import BenchResults, BenchRow, EnvBlock, latency_value
from edgeship.fileio import read_json, sha256_file
from edgeship.manifest import Manifest
from edgeship.pipeline.config import PipelineConfig
from edgeship.pipeline.recommend import Budgets, recommend
from edgeship.pipeline.runner import Layout
from edgeship.versions import installed_versions

RESULTS_SCHEMA = "edgeship.pipeline/1"


class ModelInfo(TypedDict):
    """The source model: its file, digest, and what its card says."""

    path: str
    sha256: str | None
    name: Any
    test_accuracy: Any
    dataset: Any


class _PipelineResultsRequired(TypedDict):
    schema: str
    created: str
    config: dict[str, Any]
    recommendation: dict[str, Any]
    recommendations: dict[str, dict[str, Any]]
    model: ModelInfo
    keras_p50_ms: float | None
    variants: list[dict[str, Any]]
    bench: list[BenchRow]
    bench_env: EnvBlock
    steps: list[dict[str, Any]]
    commands: list[str]
    versions: dict[str, str]


class PipelineResults(_PipelineResultsRequired, total=False):
    """``results.json`` of a pipeline run (schema ``edgeship.pipeline/1``); ``seconds`` is
    added once the report is written."""

    seconds: float


def is_keras_row(row: BenchRow) -> bool:
    """True for a Keras baseline row of the bench results."""
    return str(row.get("backend", "")).startswith("keras") or str(
        row.get("variant", "")
    ).startswith("keras")


def keras_p50_ms(rows: list[BenchRow]) -> float | None:
    """The fastest Keras baseline p50 at batch 1 (the fairest comparison), or None."""
    values = [
        float(p50)
        for r in rows
        if is_keras_row(r)
        and not r.get("error")
        and (p50 := latency_value(r, "p50"))
        and int(r.get("batch", 1)) == 1
    ]
    return min(values) if values else None


def _bench_target(config: PipelineConfig, out: str) -> str:
    """The Keras baseline, or the fleet's devices (which run without TensorFlow)."""
    if config.cluster:
        return f"--cluster {config.cluster} --device {','.join(config.devices)}"
    return f"--baseline keras:{out}/model/model.keras"


def reproduce_commands(config: PipelineConfig) -> list[str]:
    """The exact commands that reproduce this run: from its config.json (every setting), as
    flags, and step by step."""
    out = config.out
    rerun = shlex.quote(f"{out.rstrip('/')}-rerun")
    exact = f"edgeship pipeline --config {shlex.quote(out)}/config.json --out {rerun}"
    source = (
        f"--model {shlex.quote(config.model)}"
        if config.model
        else f"--recipe {config.recipe} --dataset {config.dataset} --epochs {config.epochs}"
    )
    whole = (
        f"edgeship pipeline {source} --variants {','.join(config.variants)} "
        f"--backends {','.join(config.backends)} --threads {','.join(map(str, config.threads))} "
        f"--max-accuracy-drop {config.max_accuracy_drop:g}"
    )
    if config.max_latency_ms is not None:
        whole += f" --max-latency-ms {config.max_latency_ms:g}"
    if config.max_size_mb is not None:
        whole += f" --max-size-mb {config.max_size_mb:g}"
    if config.target_runtime:
        whole += f" --target-runtime {shlex.quote(config.target_runtime)}"
    accelerator = f" --accelerator {shlex.quote(config.accelerator)}" if config.accelerator else ""
    whole += accelerator
    board = "".join(
        f" --{key.replace('_', '-')} {value}" for key, value in config.mcu_options().items()
    )
    whole += f"{board} --out {shlex.quote(out)}"
    out = shlex.quote(out)  # a shell reads the steps: globs stay outside the quotes
    steps = []
    if not config.model:
        steps.append(
            f"edgeship train --recipe {config.recipe} --dataset {config.dataset} "
            f"--epochs {config.epochs} --batch-size {config.batch_size} --out {out}/model"
        )
    steps += [
        f"edgeship convert {out}/model/model.keras --to {','.join(config.variants)} "
        f"--max-accuracy-drop {config.max_accuracy_drop:g}{board} --out {out}/artifacts --force",
        f"edgeship bench {out}/artifacts/*.tflite {out}/artifacts/*.onnx "
        f"--backend {','.join(config.backends)} --threads {','.join(map(str, config.threads))} "
        f"--eval {out}/model/eval.npz{accelerator} {_bench_target(config, out)} "
        f"--json {out}/bench.json",
        f"edgeship report {out}/bench.json --out {out}/bench-report.html",
    ]
    return [exact, whole, *steps]


def _overall(choice: dict[str, Any], per_device: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Without devices, ``choice``; with them, the first device's choice and every reason."""
    if not per_device:
        return choice
    first = dict(next(iter(per_device.values())))
    first["reason"] = " | ".join(f"On {d}: {rec['reason']}" for d, rec in per_device.items())
    first["device"] = next(iter(per_device))
    return first


def build_results(config: PipelineConfig, steps: list[dict[str, Any]]) -> PipelineResults:
    """Read the step outputs under ``config.out`` and return the pipeline results document."""
    lay = Layout(Path(config.out))
    manifest = Manifest.read(lay.manifest)
    bench: BenchResults = read_json(lay.bench_json)
    card = read_json(lay.model_dir / "edgeship.json")
    rows = list(bench.get("results", []))
    variants = [v.to_dict() for v in manifest.variants]
    keras = keras_p50_ms(rows)
    budgets = Budgets(
        config.max_accuracy_drop,
        config.max_latency_ms,
        config.max_size_mb,
        microcontroller=config.board or ("custom" if config.mcu_options() else None),
    )
    records = manifest.variants
    choice = recommend(records, [r for r in rows if not is_keras_row(r)], budgets, keras)
    per_device = {
        device: recommend(
            records, [r for r in rows if r.get("device") == device], budgets, keras
        ).to_dict()
        for device in config.devices
    }
    model_file = lay.model_path
    return {
        "schema": RESULTS_SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config.to_dict(),
        "recommendation": _overall(choice.to_dict(), per_device),
        "recommendations": per_device,
        "model": {
            "path": str(model_file),
            "sha256": sha256_file(model_file) if model_file.is_file() else None,
            "name": card.get("name"),
            "test_accuracy": (card.get("metrics") or {}).get("test_accuracy"),
            "dataset": card.get("dataset"),
        },
        "keras_p50_ms": keras,
        "variants": variants,
        "bench": rows,
        "bench_env": bench.get("env", {}),
        "steps": steps,
        "commands": reproduce_commands(config),
        "versions": installed_versions(),
    }
