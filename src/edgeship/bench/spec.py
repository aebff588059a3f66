"""One benchmark configuration, as plain data that crosses process boundaries as JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from edgeship.bench.records import RunSpecDict
from edgeship.bench.scenarios import Scenario
from edgeship.bench.timer import StoppingRule
from edgeship.errors import ConfigError
from edgeship.manifest import ONNX_SUFFIX, TFLITE_SUFFIX
from edgeship.runtime import max_threads
from edgeship.runtime_flags import AUTO_ORDER

#: What is measured: edgeship's runtime, the raw backend, or Keras (predict / __call__).
KINDS = ("edgeship", "raw", "keras")

#: Backends that run each artifact format.
FORMAT_BACKENDS: dict[str, tuple[str, ...]] = AUTO_ORDER


def artifact_format(path: str) -> str:
    """``tflite`` or ``onnx`` from the file suffix; a :class:`ConfigError` otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix == TFLITE_SUFFIX:
        return "tflite"
    if suffix == ONNX_SUFFIX:
        return "onnx"
    raise ConfigError(
        f"Cannot benchmark {path}: expected a .tflite or .onnx artifact. Got suffix {suffix!r}."
    )


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The settings a sweep hands unchanged to each configuration it runs.

    Attributes:
        eval_data: samples ``.npz`` for inputs and accuracy, or None for synthetic data.
        delegate: TFLite delegate name or library path.
        delegate_options: delegate options.
        providers: ONNX Runtime execution providers.
        device: device or accelerator of the openvino / litert-compiled backends.
        target_qps: server scenario target, or None for the default.
        latency_bound_ms: server scenario bound, or None for the default.
        find_max_qps: server scenario: search the highest QPS that meets the bound.
        pin: CPUs to pin the process to, or None.
        seed: random seed for synthetic data and arrivals.
    """

    eval_data: str | None = None
    delegate: str | None = None
    delegate_options: dict[str, Any] = field(default_factory=dict)
    providers: tuple[Any, ...] | None = None
    device: str | None = None
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    find_max_qps: bool = False
    pin: tuple[int, ...] | None = None
    seed: int = 0

    def run_options(self) -> dict[str, Any]:
        """These settings as keyword arguments (for :class:`RunSpec` or ``replace``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RunOptions)}

    def own_fields_first(self) -> list[dataclasses.Field[Any]]:
        """The fields of the subclass, then the shared ones: the order JSON files print."""
        shared = {f.name for f in dataclasses.fields(RunOptions)}
        every = dataclasses.fields(self)
        return [f for f in every if f.name not in shared] + [f for f in every if f.name in shared]


@dataclass(frozen=True)
class RunSpec(RunOptions):
    """Everything one configuration needs; built by the sweep, run by :mod:`single`.

    The :class:`RunOptions` settings, and:

    Attributes:
        kind: ``edgeship``, ``raw`` or ``keras``.
        artifact: artifact path (the Keras model for ``keras``).
        backend: runtime backend name (``auto`` lets the runtime choose).
        threads: backend threads, or None for the backend default.
        batch: samples per query.
        scenario: LoadGen scenario name.
        rule: stopping rule.
        accuracy: compute accuracy when the eval data has labels.
    """

    kind: str
    artifact: str
    backend: str = "auto"
    threads: int | None = None
    batch: int = 1
    scenario: str = Scenario.SINGLE_STREAM.value
    rule: StoppingRule = field(default_factory=StoppingRule)
    accuracy: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown run kind {self.kind!r}. Expected one of: {KINDS}.")
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1. Got: {self.batch}")
        if self.threads is not None and not 1 <= self.threads <= max_threads():
            raise ConfigError(
                f"threads must be between 1 and {max_threads()} (4 per CPU) or None. "
                f"Got: {self.threads}"
            )
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0. Got: {self.seed}")
        for name in ("latency_bound_ms", "target_qps"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be > 0 when given. Got: {value}")
        Scenario.parse(self.scenario)

    def to_dict(self) -> RunSpecDict:
        """JSON-ready dict (inverse of :meth:`from_dict`)."""
        data = {f.name: getattr(self, f.name) for f in self.own_fields_first()}
        data["rule"] = dataclasses.asdict(self.rule)
        data["delegate_options"] = dict(self.delegate_options)
        data["providers"] = list(self.providers) if self.providers is not None else None
        data["pin"] = list(self.pin) if self.pin is not None else None
        return cast(RunSpecDict, data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Rebuild a spec written by :meth:`to_dict`; unknown keys are rejected."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"Unknown run settings {unknown}. Expected keys among {sorted(known)}."
            )
        values = dict(data)
        values["rule"] = StoppingRule(**values.get("rule", {}))
        if values.get("pin") is not None:
            values["pin"] = tuple(values["pin"])
        if values.get("providers") is not None:
            values["providers"] = tuple(
                tuple(p) if isinstance(p, list) else p for p in values["providers"]
            )
        return cls(**values)

    @property
    def delegate_label(self) -> str | None:
        """The delegate, or the providers joined by '+', or the device, or None (the
        backend's default CPU path)."""
        if self.device:
            return f"device {self.device}"
        if self.delegate:
            return self.delegate
        if self.providers:
            return "+".join(p if isinstance(p, str) else str(p[0]) for p in self.providers)
        return None
