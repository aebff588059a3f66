"""The pipeline's steps: train -> convert (with parity) -> bench -> report -> recommend.

Each step takes files and returns files plus a record; ``--resume`` skips a step whose
stamp still matches (see :mod:`edgeship.pipeline.resume`).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeship.card import CARD_FILENAME, load_card
from edgeship.errors import ConfigError, ParityError
from edgeship.manifest import MANIFEST_FILENAME, Manifest
from edgeship.modelfile import check_model_file
from edgeship.pipeline import resume
from edgeship.pipeline.config import PipelineConfig

CARD_FILES = (CARD_FILENAME, "calibration.npz", "eval.npz")


@dataclass(frozen=True)
class Step:
    """One pipeline step: what it reads, what it writes, what it depends on."""

    name: str
    describe: str
    inputs: tuple[Path, ...]
    outputs: tuple[Path, ...]
    settings: dict[str, Any]
    run: Callable[[], dict[str, Any]]


@dataclass
class Layout:
    """Where each step writes inside the output directory."""

    out: Path
    model_dir: Path = field(init=False)
    artifacts: Path = field(init=False)
    bench_json: Path = field(init=False)

    def __post_init__(self) -> None:
        self.model_dir = self.out / "model"
        self.artifacts = self.out / "artifacts"
        self.bench_json = self.out / "bench.json"

    @property
    def model_path(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def manifest(self) -> Path:
        return self.artifacts / MANIFEST_FILENAME


def log(message: str) -> None:
    print(f"[edgeship pipeline] {message}", file=sys.stderr, flush=True)


def plan(config: PipelineConfig) -> list[Step]:
    """The steps ``config`` asks for, in order."""
    lay = Layout(Path(config.out))
    steps = [_model_step(config, lay), _convert_step(config, lay), _bench_step(config, lay)]
    return steps


def _card_for_dataset(folder: Path, dataset: str) -> bool:
    """True when ``folder`` holds a complete card (``edgeship train`` output) made on
    ``dataset``; a card from another dataset is not reused, so --dataset is never ignored."""
    if not all((folder / name).is_file() for name in CARD_FILES):
        return False
    return load_card(folder).dataset.get("name") == dataset


def _model_step(config: PipelineConfig, lay: Layout) -> Step:
    if config.model:
        source = Path(config.model)
        if not source.exists():
            raise ConfigError(
                f"--model {source} does not exist. "
                "Expected a .keras/.h5 file or a SavedModel directory."
            )
        check_model_file(source)  # before anything is copied
        settings: dict[str, Any] = {"model": str(source), "dataset": config.dataset}

        def run_card() -> dict[str, Any]:
            lay.model_dir.mkdir(parents=True, exist_ok=True)
            target = lay.model_path if source.is_file() else lay.model_dir / source.name
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target)
            beside = source.parent if source.is_file() else source
            if _card_for_dataset(beside, config.dataset):
                for name in CARD_FILES:  # the output of `edgeship train`: reuse its card
                    shutil.copy2(beside / name, lay.model_dir / name)
                card = load_card(lay.model_dir)
            else:
                from edgeship.train.owncard import CardRequest, make_card

                request = CardRequest(
                    model=str(target),
                    dataset=config.dataset,
                    out=str(lay.model_dir),
                    force=True,
                    unsafe=config.unsafe,
                )
                card = make_card(request)
            return {"model": str(target), "test_accuracy": card.metrics.get("test_accuracy")}

        return Step(
            "model",
            f"card for {source} on {config.dataset}",
            (source,),
            (lay.model_dir,),
            settings,
            run_card,
        )

    settings = {
        "recipe": config.recipe,
        "dataset": config.dataset,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "seed": config.seed,
        **({"backend": config.train_backend} if config.train_backend else {}),
    }

    def run_train() -> dict[str, Any]:
        from edgeship.train import TrainConfig, train

        result = train(TrainConfig(out=str(lay.model_dir), force=True, verbose=2, **settings))
        return {
            "model": str(result.model_path),
            "test_accuracy": result.test_accuracy,
            "seconds": result.seconds,
        }

    return Step(
        "train",
        f"train {config.recipe} on {config.dataset} for {config.epochs} epochs",
        (),
        (lay.model_dir,),
        settings,
        run_train,
    )


def _convert_step(config: PipelineConfig, lay: Layout) -> Step:
    settings = {
        "variants": list(config.variants),
        "max_accuracy_drop": config.max_accuracy_drop,
        "target_runtime": config.target_runtime,
        **config.mcu_options(),
    }

    def run_convert() -> dict[str, Any]:
        from edgeship.convert import convert

        model = _model_file(lay)
        try:
            manifest = Manifest.from_dict(
                convert(
                    model,
                    lay.artifacts,
                    variants=tuple(config.variants),
                    max_accuracy_drop=config.max_accuracy_drop,
                    target_runtime=config.target_runtime,
                    options=config.mcu_options(),
                    force=True,
                    unsafe=config.unsafe,
                )
            )
        except ParityError as exc:
            log(f"some variants failed the parity gate (kept, marked failed): {exc}")
            manifest = exc.manifest or Manifest.read(lay.manifest)
        return {
            "ok": [v.name for v in manifest.ok_variants()],
            "failed": [v.name for v in manifest.failed_variants()],
        }

    return Step(
        "convert",
        f"convert to {', '.join(config.variants)} with parity checks",
        (lay.model_dir,),
        (lay.artifacts,),
        settings,
        run_convert,
    )


def _bench_step(config: PipelineConfig, lay: Layout) -> Step:
    settings = {
        "backends": list(config.backends),
        "threads": list(config.threads),
        "min_seconds": config.bench_min_seconds,
        "runs": config.bench_runs,
        "cold": config.bench_cold,
        "repeats": config.bench_repeats,
        "keras_baseline": config.keras_baseline,
        "cluster": config.cluster,
        "devices": list(config.devices),
        **({"accelerator": config.accelerator} if config.accelerator else {}),
    }

    def run_bench() -> dict[str, Any]:
        from edgeship.bench import BenchConfig, run_sweep, save_results

        artifacts = [str(p) for p in Manifest.read(lay.manifest).ok_artifacts()]
        if not artifacts:
            raise ConfigError("No converted variant passed; nothing to benchmark.")
        # devices run without TensorFlow; the Keras baseline loads models in safe mode only
        keras = config.keras_baseline and not config.cluster and not config.unsafe
        if config.keras_baseline and config.unsafe:
            log("the Keras baseline is not timed: it loads models in safe mode only (--unsafe)")
        baselines = (f"keras:{_model_file(lay)}",) if keras else ()
        if config.accelerator and not config.cluster:  # a device checks its own at bench
            check_accelerator(artifacts, config.backends, config.accelerator)
        sweep = BenchConfig(
            artifacts=tuple(artifacts),
            backends=tuple(config.backends),
            threads=tuple(config.threads),
            batch=(1,),
            min_seconds=config.bench_min_seconds,
            min_runs=config.bench_runs,
            cold=config.bench_cold,
            repeats=config.bench_repeats,
            eval_data=str(lay.model_dir / "eval.npz"),
            baselines=baselines,
            device=config.accelerator,
        )
        if config.cluster:
            from edgeship.fleet import FleetTarget, run_fleet

            results = run_fleet(sweep, FleetTarget(config.cluster, config.devices))
        else:
            results = run_sweep(sweep)
        save_results(lay.bench_json, results)
        return {"configurations": len(results.get("results", []))}

    where = f" on devices {', '.join(config.devices)}" if config.cluster else ""
    where += f" on accelerator {config.accelerator}" if config.accelerator else ""
    return Step(
        "bench",
        f"benchmark on {', '.join(config.backends)} x threads "
        f"{', '.join(map(str, config.threads))}{where}",
        (lay.artifacts,),
        (lay.bench_json,),
        settings,
        run_bench,
    )


def check_accelerator(artifacts: list[str], backends: tuple[str, ...], device: str) -> None:
    """Load the first artifact each backend reads on ``device``, so that an accelerator this
    machine lacks stops the run with the backend's error before any configuration is timed.

    Raises:
        BackendError: the device or accelerator is not present, or cannot run the model.
    """
    from edgeship.bench.spec import artifact_format
    from edgeship.runtime import load
    from edgeship.runtime.backends import BACKENDS

    for backend in backends:
        path = next((a for a in artifacts if BACKENDS[backend].reads(artifact_format(a))), None)
        if path is not None:
            load(path, backend=backend, device=device, verify=False).close()


def _model_file(lay: Layout) -> Path:
    if lay.model_path.exists():
        return lay.model_path
    dirs = [p for p in lay.model_dir.iterdir() if p.is_dir() and (p / "saved_model.pb").exists()]
    if not dirs:
        raise ConfigError(
            f"No model found in {lay.model_dir}. Expected model.keras or a SavedModel."
        )
    return dirs[0]


def execute(
    steps: list[Step], out: Path, resume_steps: bool, total: int | None = None
) -> list[dict[str, Any]]:
    """Run (or skip, with ``resume_steps``) each step; return one record per step.

    ``total``: the step count shown in progress lines (the caller's steps after these count).
    """
    records = []
    total = total or len(steps)
    for index, step in enumerate(steps, 1):
        inputs, outputs = list(step.inputs), list(step.outputs)
        if resume_steps and resume.is_fresh(out, step.name, inputs, outputs, step.settings):
            log(f"step {index}/{total} {step.name}: up to date, skipped")
            records.append({"step": step.name, "skipped": True, "seconds": 0.0})
            continue
        log(f"step {index}/{total} {step.name}: {step.describe}")
        start = time.perf_counter()
        detail = step.run()
        seconds = time.perf_counter() - start
        resume.write_stamp(out, step.name, inputs, outputs, step.settings, seconds)
        log(f"step {index}/{total} {step.name}: done in {seconds:.1f} s")
        records.append({"step": step.name, "skipped": False, "seconds": seconds, **detail})
    return records
