"""Pipeline settings: one frozen dataclass, read from TOML/YAML and overridden by flags."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeship.bench.repeats import check_repeats
from edgeship.convert.variants import PRESETS, VARIANTS
from edgeship.errors import ConfigError
from edgeship.fileio import not_a_file
from edgeship.runtime.backends import BACKENDS
from edgeship.typecheck import field_types, typed_value

CONFIG_SCHEMA = "edgeship.pipeline-config/1"

DEFAULT_VARIANTS: tuple[str, ...] = PRESETS["all"]  # every variant convert knows


@dataclass(frozen=True)
class PipelineConfig:
    """Every setting of ``edgeship pipeline``. Flags override the config file.

    Attributes:
        out: output directory.
        model: an existing Keras model (.keras/.h5/SavedModel); skips training when set.
        recipe: training recipe when ``model`` is not set.
        dataset: dataset name (``digits`` by default).
        epochs: training epochs.
        batch_size: training batch size.
        seed: random seed for training and sampling.
        train_backend: the Keras backend that trains (``tensorflow``, ``jax``, ``torch``);
            None: ``$KERAS_BACKEND``, else tensorflow. Conversion always runs on TensorFlow.
        variants: convert variants (``("all",)`` for every one).
        backends: runtime backends to benchmark on (each artifact runs on those of its format).
        threads: thread counts to benchmark.
        accelerator: device of the openvino backend (``CPU``, ``GPU``, ``NPU``, ``AUTO``) or
            accelerator of the litert-compiled backend (``cpu``, ``gpu``, ``npu``) every
            configuration runs on; None: the CPU. Only with those backends.
        max_accuracy_drop: accuracy budget in percentage points below the Keras model.
        max_latency_ms: p50 latency budget at batch 1, or None.
        max_size_mb: artifact size budget, or None.
        board: microcontroller budget preset (e.g. ``cortex-m4-256k``), or None. With a board
            or an arena/flash budget, tflm-int8 is gated on it and only microcontroller
            variants that fit are recommended.
        max_arena_kb: tflm-int8 tensor arena budget in KiB (over the board's RAM), or None.
        max_flash_kb: tflm-int8 model (flash) budget in KiB (over the board's), or None.
        target_runtime: device runtime spec such as ``tflite-runtime==2.14``, or None.
        bench_min_seconds: minimum measuring time per configuration.
        bench_runs: minimum timed runs per configuration.
        bench_cold: fresh processes per variant x backend x threads timed from process start
            to the first result (cold start); 0 skips them.
        bench_repeats: rounds of interleaved measurement per configuration (see
            :mod:`edgeship.bench.repeats`).
        keras_baseline: also time the Keras model (needs TensorFlow) for the speed-up.
        cluster: Dask scheduler of a device fleet (``tcp://HOST:PORT``); the bench step then
            runs on ``devices`` and the pipeline recommends per device (no Keras baseline).
        devices: device labels of ``cluster``.
        unsafe: load ``model`` with Keras safe mode off (code stored in it, e.g. a Lambda
            layer, runs: trusted files only), in the card and convert steps alike; the Keras
            baseline is then not timed (it loads models in safe mode only).
    """

    out: str = "runs/pipeline"
    model: str | None = None
    recipe: str = "mnist-cnn"
    dataset: str = "digits"
    epochs: int = 15
    batch_size: int = 64
    seed: int = 0
    train_backend: str | None = None
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    backends: tuple[str, ...] = ("litert", "onnxruntime")
    threads: tuple[int, ...] = (1, 2)
    accelerator: str | None = None
    max_accuracy_drop: float = 1.0
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    board: str | None = None
    max_arena_kb: float | None = None
    max_flash_kb: float | None = None
    target_runtime: str | None = None
    bench_min_seconds: float = 1.0
    bench_runs: int = 50
    bench_cold: int = 3
    bench_repeats: int = 3
    keras_baseline: bool = True
    cluster: str | None = None
    devices: tuple[str, ...] = ()
    unsafe: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1. Got: {self.epochs}")
        if self.train_backend is not None:
            from edgeship.train.backends import lookup

            lookup(self.train_backend)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1. Got: {self.batch_size}")
        if self.max_accuracy_drop < 0:
            raise ConfigError(
                f"max_accuracy_drop is in percentage points and must be >= 0. "
                f"Got: {self.max_accuracy_drop}"
            )
        for name in ("max_latency_ms", "max_size_mb"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0 when set. Got: {value}")
        self.mcu_options()  # an unknown board or a bad limit fails before training
        if not self.threads or any(t < 1 for t in self.threads):
            raise ConfigError(f"threads must be positive integers. Got: {list(self.threads)}")
        if not self.variants:
            raise ConfigError("variants is empty. Expected 'all' or a list of variant names.")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:  # checked here, before training spends minutes
            raise ConfigError(
                f"Unknown variant(s) {unknown}. Expected 'all' or names from: "
                f"{', '.join(VARIANTS)}."
            )
        unknown = [b for b in self.backends if b not in BACKENDS]
        if not self.backends or unknown:
            raise ConfigError(
                f"Unknown backend(s) {unknown or list(self.backends)}. Expected names from: "
                f"{', '.join(BACKENDS)}."
            )
        self.check_accelerator()
        if self.cluster:
            from edgeship.fleet.cluster import check_address
            from edgeship.fleet.labels import check_label

            check_address(self.cluster)
            for label in self.devices:
                check_label(label)
        if bool(self.cluster) != bool(self.devices):
            raise ConfigError(
                "cluster and devices go together (--cluster ADDRESS --device LABEL[,LABEL...]). "
                f"Got: cluster {self.cluster!r}, devices {list(self.devices)}."
            )
        if self.bench_cold < 0 or self.bench_runs < 1 or self.bench_min_seconds < 0:
            raise ConfigError(
                "bench_cold must be >= 0, bench_runs >= 1 and bench_min_seconds >= 0. Got: "
                f"{self.bench_cold}, {self.bench_runs}, {self.bench_min_seconds}"
            )
        check_repeats(self.bench_repeats)

    def check_accelerator(self) -> None:
        """Refuse an accelerator with a backend that takes none, or a name a backend does not
        know (whether it is present is checked by loading a converted artifact on it).

        Raises:
            ConfigError: naming the backends that take one and their device names.
        """
        if self.accelerator is None:
            return
        from edgeship.runtime.backends import DEVICE_BACKENDS, check_device_option

        others = [b for b in self.backends if b not in DEVICE_BACKENDS]
        if others:
            raise ConfigError(
                f"accelerator {self.accelerator!r} applies to the {' and '.join(DEVICE_BACKENDS)} "
                f"backends only. Got backends {list(self.backends)}: {others} take none. Use "
                "--backend openvino (CPU|GPU|NPU|AUTO) and/or litert-compiled (cpu|gpu|npu), or "
                "drop --accelerator."
            )
        for backend in self.backends:
            check_device_option(backend, self.accelerator)

    def mcu_options(self) -> dict[str, Any]:
        """The microcontroller budget as convert options (empty when none is set).

        Raises:
            ConfigError: an unknown board or a limit that is not a positive number.
        """
        from edgeship.convert.boards import Budget

        Budget.from_settings(self.board, self.max_arena_kb, self.max_flash_kb)
        names = ("board", "max_arena_kb", "max_flash_kb")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_file_dict(self) -> dict[str, Any]:
        """The ``config.json`` a run writes: ``--config`` reads it back to repeat the run."""
        return {"schema": CONFIG_SCHEMA, **self.to_dict()}

    def replace(self, **changes: Any) -> PipelineConfig:
        """Return a copy with ``changes`` applied, ignoring None values."""
        return coerce(self, {k: v for k, v in changes.items() if v is not None})


FIELD_NAMES = {f.name for f in dataclasses.fields(PipelineConfig)}


def coerce(base: PipelineConfig, values: dict[str, Any]) -> PipelineConfig:
    """Apply ``values`` (from a file or flags) onto ``base`` with type checks."""
    unknown = sorted(set(values) - FIELD_NAMES)
    if unknown:
        raise ConfigError(
            f"Unknown pipeline setting(s) {unknown}. Expected some of: {sorted(FIELD_NAMES)}."
        )
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("variants", "backends", "threads", "devices") and not isinstance(
            value, (str, list, tuple)
        ):
            raise ConfigError(
                f"Pipeline setting {key} expects a list or a comma-separated string. "
                f"Got: {value!r} ({type(value).__name__})."
            )
        if key in ("variants", "backends", "devices"):
            items = value.split(",") if isinstance(value, str) else list(value)
            clean[key] = tuple(str(v).strip() for v in items if str(v).strip())
        elif key == "threads":
            items = value.split(",") if isinstance(value, str) else list(value)
            try:
                clean[key] = tuple(int(v) for v in items)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"threads expects integers. Got: {value!r}") from exc
        else:
            clean[key] = typed_value(f"Pipeline setting {key}", _FIELD_TYPES[key], value)
    if clean.get("variants") == ("all",):
        clean["variants"] = DEFAULT_VARIANTS
    try:
        return dataclasses.replace(base, **clean)
    except TypeError as exc:
        raise ConfigError(f"Invalid pipeline setting: {exc}") from exc


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML (``.toml``), YAML (``.yaml``/``.yml``, needs PyYAML) or JSON config file.

    Settings may sit at the top level or under a ``[pipeline]`` table. A ``.json`` file is the
    ``config.json`` an earlier run wrote (schema ``edgeship.pipeline-config/1``).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"Config file {p} {not_a_file(p)}. Expected a .toml, .yaml or .json file."
        )
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p} is not valid TOML: {exc}") from exc
    elif p.suffix in (".yaml", ".yml"):
        from edgeship._lazy import require

        yaml = require("yaml", "dev", "read YAML config files")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
    elif p.suffix == ".json":
        data = _config_json(p, text)
    else:
        raise ConfigError(
            f"Config file {p} must end in .toml, .yaml, .yml or .json. Got: '{p.suffix}'."
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a table of settings. Got: {type(data).__name__}.")
    section = data.get("pipeline", data)
    if not isinstance(section, dict):
        raise ConfigError(f"[pipeline] in {p} must be a table of settings.")
    return section


def _config_json(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != CONFIG_SCHEMA:
        raise ConfigError(
            f"{path} is not a pipeline config.json (schema {schema!r}, expected "
            f"{CONFIG_SCHEMA!r}). Use the config.json a pipeline run wrote, or a TOML/YAML file."
        )
    return {k: v for k, v in data.items() if k != "schema"}


_FIELD_TYPES = field_types(PipelineConfig)
