"""``convert()``: build variants in the converter worker, check them here, write the manifest."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.card import CARD_FILENAME, ModelCard, TensorInfo
from edgeship.convert import prepare, staging, weights
from edgeship.convert import ranges as value_ranges
from edgeship.convert.compat import (
    TargetRuntime,
    parse_target,
    plan_for_target,
    runtime_verdicts,
    target_check,
)
from edgeship.convert.manifest import artifact_fields, new_manifest
from edgeship.convert.mcu import MCU_VARIANTS, mcu_check, mcu_finish
from edgeship.convert.parity import check, compare, run_artifact
from edgeship.convert.routes import explain_runtime_failures, ladder
from edgeship.convert.variants import PRESETS, ConvertOptions, VariantSpec, resolve_variants
from edgeship.convert.worker import ConverterWorker, WorkerCrashed
from edgeship.errors import ConfigError, EdgeshipError, ModelLoadError, ParityError
from edgeship.manifest import MANIFEST_FILENAME, STATUS_FAILED, STATUS_OK, Manifest
from edgeship.modelfile import warn_unsafe_load
from edgeship.samples import check_label_range

Progress = Callable[[str, int, int], None]
DEFAULT_VARIANTS = PRESETS["default"]


def convert(
    model_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    variants: str | Sequence[str] = DEFAULT_VARIANTS,
    calibration: str | os.PathLike[str] | None = None,
    eval_data: str | os.PathLike[str] | None = None,
    max_accuracy_drop: float = 1.0,
    force: bool = False,
    target_runtime: str | None = None,
    progress: Progress | None = None,
    options: ConvertOptions | dict[str, Any] | None = None,
    check_runtimes: bool = True,
    unsafe: bool = False,
) -> dict[str, Any]:
    """Convert a Keras model to every requested variant, parity-check each, write a manifest.

    Args:
        model_path: ``.keras``/``.h5`` file or SavedModel directory (card beside it is used).
        out_dir: where ``<variant>.tflite|.onnx``, ``manifest.json`` and the card go. They
            are built in a staging folder beside it, swapped in whole at the end (see
            :mod:`edgeship.convert.staging`): an interrupted convert leaves it as it was.
        variants: names from :data:`VARIANTS`, a comma-separated string, or ``"all"``.
        calibration: ``.npz``, dataset name, or None for the card's ``calibration.npz``.
        eval_data: ``.npz``, dataset name, or None for the card's ``eval.npz``.
        max_accuracy_drop: largest accepted accuracy drop in percentage points.
        force: replace the convert output already in ``out_dir`` (all of it).
        target_runtime: e.g. ``"tflite-runtime==2.14"``; settings are chosen to stay
            compatible and variants it cannot run fail.
        progress: ``progress(step, done, total)`` callback.
        options: :class:`ConvertOptions` or a dict of them (unknown keys are rejected).
        check_runtimes: run every artifact on every installed interpreter.
        unsafe: load a ``.keras`` model with Keras safe mode off, so that code stored in it
            (a Lambda layer) runs; trusted files only. Warns with
            :class:`~edgeship.errors.UnsafeLoadWarning`, as ``edgeship card --unsafe`` does.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Raises:
        ParityError: after writing the manifest, when any variant failed; ``failures``
            names them.
        ArtifactExistsError, ModelLoadError, DatasetError, ConfigError: bad input, before
            anything is written.
    """
    for name, flag in (("force", force), ("check_runtimes", check_runtimes), ("unsafe", unsafe)):
        if not isinstance(flag, bool):
            raise ConfigError(f"{name} must be True or False. Got: {flag!r}")
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a callable(step, done, total). Got: {progress!r}")
    if not (isinstance(max_accuracy_drop, (int, float)) and math.isfinite(max_accuracy_drop)):
        raise ConfigError(
            "max_accuracy_drop is in percentage points and must be a finite number (e.g. 1.0; "
            f"a negative one demands a gain). Got: {max_accuracy_drop!r}"
        )
    specs = resolve_variants(variants if isinstance(variants, str) else tuple(variants))
    opts = options if isinstance(options, ConvertOptions) else ConvertOptions.from_dict(options)
    opset_given = isinstance(options, dict) and "opset" in options
    source = Path(model_path)
    if not source.exists():
        raise ModelLoadError(
            f"Model {source} does not exist. Expected a .keras/.h5 file or a SavedModel directory."
        )
    prepare.check_model_file(source, opts)
    if unsafe:
        warn_unsafe_load()
    target: TargetRuntime | None = parse_target(target_runtime) if target_runtime else None
    notes: list[str] = []
    if target is not None:
        opts, notes = plan_for_target(target, opts, opset_given)
    card = prepare.card_for(source)
    if card is not None:
        # Fail on bad data before anything is written or TensorFlow starts.
        prepare.eval_data(eval_data, source, card, card.inputs)
        prepare.calibration_data(calibration, source, card, card.inputs, specs, opts)
    final = Path(out_dir)
    prepare.prepare_out_dir(final, force)
    with staging.staged(final) as stage:
        manifest = _convert_staged(
            stage, source, card, specs, opts, notes, target, eval_data, calibration,
            max_accuracy_drop, check_runtimes, progress, unsafe,
        )  # fmt: skip
        manifest = staging.relocate(manifest, stage, final)  # messages name the final paths
        written = Manifest.from_dict(manifest)
        written.write(stage)  # last: it vouches for everything written before
        staging.commit(stage, final)
    written = written.replace(location=final / MANIFEST_FILENAME)
    failed = written.failed_variants()
    if failed:
        lines = "; ".join(  # cut for display only: the manifest keeps every error whole
            f"{v.name}: {textwrap.shorten(' / '.join(v.errors), 400, placeholder=' ...')}"
            for v in failed
        )
        raise ParityError(
            f"{len(failed)} of {len(specs)} variant(s) failed: {lines}. They are marked "
            f"'failed' in {final / MANIFEST_FILENAME} (files that were built are kept).",
            failures=[v.name for v in failed],
            manifest=written,
        )
    return manifest


def _convert_staged(
    out: Path,
    source: Path,
    card: ModelCard | None,
    specs: tuple[VariantSpec, ...],
    opts: ConvertOptions,
    notes: list[str],
    target: TargetRuntime | None,
    eval_data: str | os.PathLike[str] | None,
    calibration: str | os.PathLike[str] | None,
    max_accuracy_drop: float,
    check_runtimes: bool,
    progress: Progress | None,
    unsafe: bool,
) -> dict[str, Any]:
    """Build, check and record every variant (and the card) in the staging folder ``out``."""
    notify = progress or (lambda step, done, total: None)
    workdir = Path(tempfile.mkdtemp(prefix="edgeship-convert-"))
    try:
        card_dict = card.to_dict() if card else None
        shape_policy = (opts.batch_size, opts.input_shapes)
        with (
            ConverterWorker(source, card_dict, workdir, *shape_policy, unsafe) as worker,
            ConverterWorker(source, card_dict, workdir, *shape_policy, unsafe) as checker,
        ):
            notify("loading model", 0, len(specs))
            started = time.perf_counter()
            info = worker.call("info")
            start_seconds = time.perf_counter() - started
            inputs = tuple(TensorInfo.from_dict(t) for t in info["inputs"])
            eval_inputs, labels, eval_from = prepare.eval_data(eval_data, source, card, inputs)
            cal_inputs, cal_from = prepare.calibration_data(
                calibration, source, card, inputs, specs, opts
            )
            timings = {"start_seconds": start_seconds, **worker.call("prepare")}
            started = time.perf_counter()
            reference = worker.call("predict", inputs=eval_inputs)
            timings["reference_seconds"] = time.perf_counter() - started
            classifiers = [r for r in reference if np.ndim(r) == 2 and np.shape(r)[1] > 1]
            if len(classifiers) == 1:  # labels of a one-classifier model index its scores
                check_label_range(labels, int(np.shape(classifiers[0])[1]), str(eval_from))
            timings = {k: round(v, 3) for k, v in timings.items()}
            ranges, warnings = value_ranges.data_fields(
                cal_inputs, eval_inputs, str(eval_from), card
            )
            manifest = new_manifest(
                source,
                info["kind"],
                card=CARD_FILENAME if card else None,
                options=opts.to_dict(),
                max_accuracy_drop=max_accuracy_drop,
                target_runtime=str(target) if target else None,
                data={
                    "calibration": cal_from,
                    "eval": eval_from,
                    "eval_samples": len(reference[0]),
                    **ranges,
                },
                notes=notes,
                warnings=warnings,
                timings=timings,
            )
            job = _Job(
                (worker, checker), out, cal_inputs, eval_inputs, labels, reference,
                info["outputs"], max_accuracy_drop, target, check_runtimes,
            )  # fmt: skip
            for index, spec in enumerate(specs):
                notify(spec.name, index, len(specs))
                record = _build(job, spec, opts)
                if spec.needs_calibration or spec.name == "onnx-int8":
                    record["calibration_range"] = ranges["calibration_range"]
                manifest["variants"].append(record)
            flags = weights.annotate(manifest["variants"], out)
            if flags:
                manifest["warnings"] = [*(manifest.get("warnings") or []), *flags]
            notify("done", len(specs), len(specs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if card is not None:
        value_ranges.card_with_calibration(card, ranges["calibration_range"]).save(out)
    return manifest


@dataclass(frozen=True)
class _Job:
    """What every variant of one convert shares."""

    workers: tuple[ConverterWorker, ConverterWorker]
    out: Path
    cal_inputs: dict[str, np.ndarray] | None
    eval_inputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    reference: list[np.ndarray]
    output_names: list[str]
    max_accuracy_drop: float
    target: TargetRuntime | None
    check_runtimes: bool


def _build(job: _Job, spec: VariantSpec, opts: ConvertOptions) -> dict[str, Any]:
    """Build one variant along its route ladder; with ``auto_keep_float``, search the layers
    of a failing one to keep in float (:mod:`edgeship.convert.keep_float`)."""
    record = _ladder(job, spec, opts)
    calibrated = spec.needs_calibration or spec.name == "onnx-int8"
    if not opts.auto_keep_float or not calibrated or record["status"] == STATUS_OK:
        return record
    from edgeship.convert.keep_float import auto_keep_float

    route = record["route"]
    return auto_keep_float(
        lambda o: _build_one(job, spec, o, route) | {"route": route},
        spec, opts, record, job.out, job.reference, job.eval_inputs,
    )  # fmt: skip


def _ladder(job: _Job, spec: VariantSpec, opts: ConvertOptions) -> dict[str, Any]:
    """Try the variant's routes in order until one passes (see :mod:`routes`).

    Each fallback builds into a scratch folder; the chosen artifact (the first that passes,
    else the first that ran, else the primary's) is moved into place.
    """
    routes = ladder(spec.name)
    if len(routes) == 1:
        return _build_one(job, spec, opts) | {"route": routes[0].name, "fallbacks_tried": []}
    scratch = job.out / f".routes-{spec.name}"
    records: list[tuple[dict[str, Any], Path]] = []
    try:
        for index, route in enumerate(routes):
            if records and not route.applies(records[-1][0]):
                continue  # e.g. the earlier route converted: this one would build the same
            path = job.out / spec.filename if index == 0 else scratch / route.name / spec.filename
            record = _build_one(job, spec, opts, route.name, path)
            records.append((record, path))
            if record["status"] == STATUS_OK:
                break
        chosen, path = next(
            (r for r in records if r[0]["status"] == STATUS_OK),
            next((r for r in records if r[0]["parity"] is not None), records[0]),
        )
        final = job.out / spec.filename
        if path != final:
            final.unlink(missing_ok=True)
            if path.is_file():
                os.replace(path, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    chosen["file"] = spec.filename
    chosen["fallbacks_tried"] = [
        {"route": r["route"], "errors": r["errors"]} for r, _ in records if r is not chosen
    ]
    if chosen["status"] != STATUS_OK:  # every route failed: list each one's reasons
        chosen["errors"] = [f"route {chosen['route']}: {e}" for e in chosen["errors"]] + [
            f"route {t['route']}: {e}" for t in chosen["fallbacks_tried"] for e in t["errors"]
        ]
    return chosen


def _build_one(
    job: _Job, spec: VariantSpec, opts: ConvertOptions, route: str = "", at: Path | None = None
) -> dict[str, Any]:
    workers, out, cal_inputs = job.workers, job.out, job.cal_inputs
    eval_inputs, labels, reference = job.eval_inputs, job.labels, job.reference
    output_names, max_accuracy_drop = job.output_names, job.max_accuracy_drop
    target, check_runtimes = job.target, job.check_runtimes
    path = at or out / spec.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a failed build must not leave an older file looking valid
    route = route or ladder(spec.name)[0].name
    record: dict[str, Any] = {"name": spec.name, "format": spec.format.value, "route": route}
    errors: list[str] = []
    started = time.perf_counter()
    params: dict[str, Any] = {}
    worker = workers[0]
    try:
        params = worker.call(
            "convert",
            variant=spec.name,
            path=str(path),
            options=opts.to_dict(),
            calibration=(
                cal_inputs
                if spec.needs_calibration or spec.name == "onnx-int8" or opts.debug_quant
                else None
            ),
            route=route,
        )
    except WorkerCrashed as exc:
        errors.append(f"converter crashed ({exc.signal_name or 'no signal'}): {exc}")
        params = {"crashed": exc.signal_name or "exit"}
    except EdgeshipError as exc:
        errors.append(str(exc))
    seconds = round(time.perf_counter() - started, 3)
    record.update(artifact_fields(path))
    record.update(params=params, seconds=seconds, parity=None, runtimes={})
    if not errors and path.is_file():
        agreement = {
            "reference": reference,
            "names": output_names,
            "labels": labels,
            "tolerance": dataclasses.asdict(spec.tolerance),
            "max_accuracy_drop": max_accuracy_drop,
        }
        runtimes = (
            runtime_verdicts(workers, path, spec, eval_inputs, agreement) if check_runtimes else {}
        )
        record["runtimes"] = runtimes
        target_errors, verdict = target_check(target, spec, runtimes)
        errors += target_errors
        if verdict is not None:
            record["target"] = verdict
        mcu = spec.name in MCU_VARIANTS  # checked, run and bundled for TFLite Micro
        if mcu:
            record["mcu"], refused = mcu_check(path, opts.mcu_budget())
            errors += refused
        parity_started = time.perf_counter()
        try:
            if not (mcu and errors):
                parity, record["tensor_names"] = _parity(
                    path, eval_inputs, labels, reference, output_names, "tflm" if mcu else "auto"
                )
                record["parity"] = parity
                errors += check(parity, spec.tolerance, max_accuracy_drop)
            if mcu and not errors:
                errors += mcu_finish(record["mcu"], path, eval_inputs, output_names, opts)
        except EdgeshipError as exc:
            errors.append(f"parity could not run: {exc}")
        record["parity_seconds"] = round(time.perf_counter() - parity_started, 3)
    if errors and record.get("parity") is None and record.get("runtimes"):
        errors += explain_runtime_failures(record["runtimes"], spec.name, route)
    record["status"] = STATUS_OK if not errors else STATUS_FAILED
    record["errors"] = errors
    return record


def _parity(
    path: Path,
    eval_inputs: dict[str, np.ndarray],
    labels: np.ndarray | None,
    reference: list[np.ndarray],
    output_names: list[str],
    backend: str = "auto",
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The parity record, and the model's name of each of the artifact's tensors (the
    manifest's ``tensor_names``, see :mod:`edgeship.runtime.names`)."""
    from edgeship.runtime import load
    from edgeship.runtime.names import tensor_names

    # The worker already ran this file on every interpreter in a child process.
    with load(path, backend=backend, verify=False) as engine:
        got = run_artifact(engine, eval_inputs, output_names)
        backend = f"{engine.backend} {engine.backend_version}"
        names = tensor_names(
            [s.name for s in engine.artifact_inputs],
            [s.name for s in engine.artifact_outputs],
            list(eval_inputs),
            output_names,
        )
    result = compare(reference, got, output_names, labels)
    result["backend"] = backend
    return result, names
