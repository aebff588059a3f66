"""The bench hand-over as types: one results row and the results document.

A sweep's rows and its ``edgeship.bench/1`` document stay plain dicts at run time (they
cross process boundaries and land on disk as JSON); these :class:`typing.TypedDict`
definitions say which keys they hold and of what type, so mypy checks every writer and
reader against one definition. Standard library only.

Keys of a row by origin:

* :class:`RowIdentity`: what every row has from the moment it is made (also a failed one).
* :func:`edgeship.bench.single.base_row`: the file, format, delegate, stopping rule, pin.
* :func:`edgeship.bench.single.run_spec` / ``keras_child``: load, first inference, memory,
  accuracy, the accelerator's placement, and the scenario's :class:`Measurement`.
* The sweep: ``isolated``, ``cold_ms`` / ``cold_errors`` (``--cold N``),
  ``overhead_vs_raw_us``; a fleet: ``device`` and ``device_env``.
* :func:`edgeship.bench.isolate.error_row`: ``error`` and ``error_detail``.

:data:`edgeship.bench.storage.REQUIRED_ROW_KEYS` are set (null when unmeasured) on every
row of a results document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypedDict, get_args


class LatencySummary(TypedDict):
    """Summary statistics of latency samples (:func:`edgeship.bench.stats.summarize`), in ms."""

    n: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float
    cv: float
    mad: float


#: A key of :class:`LatencySummary` (a latency statistic's name).
LatencyKey = Literal[
    "n", "mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max", "cv", "mad"
]


class StoppingRuleDict(TypedDict, total=False):
    """:class:`edgeship.bench.timer.StoppingRule` as JSON (every key written; total=False so
    that a sweep's ``config`` block, which may be empty, can extend it)."""

    min_runs: int
    min_seconds: float
    warmup_runs: int
    warmup_seconds: float
    max_runs: int | None
    max_seconds: float | None


class RunOptionsDict(TypedDict, total=False):
    """:class:`edgeship.bench.spec.RunOptions` as JSON: what a sweep hands each configuration
    (every key written; a spec read back may lack some, which then take their defaults)."""

    eval_data: str | None
    delegate: str | None
    delegate_options: dict[str, object]
    providers: list[object] | None
    device: str | None
    target_qps: float | None
    latency_bound_ms: float | None
    find_max_qps: bool
    pin: list[int] | None
    seed: int


class RunSpecDict(RunOptionsDict):
    """One configuration as it crosses to its child process or device
    (:meth:`edgeship.bench.spec.RunSpec.to_dict`)."""

    kind: str
    artifact: str
    backend: str
    threads: int | None
    batch: int
    scenario: str
    rule: StoppingRuleDict
    accuracy: bool


class Headline(TypedDict):
    """The number a scenario is judged by: its key (``p90``, ``throughput_sps``...) and value."""

    metric: str
    value: float | None


class Probe(TypedDict):
    """One server run of ``--find-max-qps``: its arrival rate, p99 and whether it met the bound."""

    qps: float
    p99_ms: float
    meets: bool


class ReferenceInfo(TypedDict):
    """What the reference kernel (:mod:`edgeship.bench.reference`) measured in a run, timed
    right after each query: its name and version, runs, median and minimum in microseconds."""

    kernel: str
    n: int
    p50_us: float
    min_us: float


class ScenarioResult(TypedDict, total=False):
    """What a scenario measured besides the latency summary (shared by :class:`Measurement`
    and :class:`BenchRow`, whose ``latency_ms`` differ only in being None on a failed row)."""

    latency_quantiles_ms: list[float]
    warmup_runs: int
    throughput_ips: float | None
    throughput_sps: float | None
    measured_s: float
    # server scenario
    target_qps: float
    achieved_qps: float | None
    latency_bound_ms: float
    meets_bound: bool
    # --find-max-qps
    max_qps: float | None
    probes: list[Probe]
    # latency relative to the reference kernel (single-stream, multi-stream, offline)
    reference: ReferenceInfo
    rel_p50: float
    rel_min: float
    rel_mad: float
    # added by run_scenario
    headline: Headline
    noisy: bool


class Measurement(ScenarioResult, total=False):
    """What a scenario measured (:mod:`edgeship.bench.scenarios`); merged into the row."""

    latency_ms: LatencySummary


class AcceleratorInfo(TypedDict):
    """Execution providers that started, and op counts per place (delegated/CPU, or nodes
    per ONNX Runtime provider); None where the backend does not say."""

    providers_active: list[str] | None
    op_placement: dict[str, int] | None
    #: "host-simulated" where the backend runs a device's kernels on this host (TFLite
    #: Micro): its latency is the host's, never the device's. None otherwise.
    simulated: str | None
    #: The tensor arena the interpreter allocated in, where the backend has one (bytes).
    arena_bytes: int | None


class Repeats(TypedDict, total=False):
    """What the interleaved repeats of one configuration measured (``row["repeats"]``, see
    :mod:`edgeship.bench.repeats`): each repeat's p50, the fastest and their spread in
    percent of the fastest; and each repeat's ``rel_p50`` and ``rel_min`` where the rows
    carry a reference kernel."""

    n: int
    p50_ms: list[float]
    p50_min_ms: float
    spread_pct: float
    rel_p50: list[float]
    rel_min: list[float]


class MachineInfo(TypedDict, total=False):
    """The machine a benchmark ran on: CPU, cores, OS, Python and package versions."""

    cpu: str
    machine: str
    cores: int | None
    usable_cores: int | None
    os: str
    python: str
    versions: dict[str, str]


class DeviceEnv(MachineInfo, total=False):
    """A fleet device's machine (:func:`edgeship.fleet.device.device_environment`)."""

    hostname: str


class RowIdentity(TypedDict):
    """The keys every row has, a failed one included: what ran, on what, and how it ended.

    A configuration whose spec cannot be rebuilt fails with these copied from the spec as
    given (:func:`edgeship.bench.isolate.error_row`).
    """

    artifact: str
    kind: str
    variant: str
    backend: str
    threads: int | None
    batch: int
    scenario: str
    error: str | None


class BenchRow(RowIdentity, ScenarioResult, total=False):
    """One configuration's result row: :class:`RowIdentity` plus what was measured.

    Numbers are None where unmeasured; ``latency_ms`` is None on a failed row.
    """

    # the artifact and configuration (base_row)
    sha256: str | None
    format: str
    backend_version: str | None
    delegate: str | None
    size_bytes: int | None
    stopping_rule: StoppingRuleDict
    pin: list[int] | None
    # measured in the child (run_spec, keras_child)
    load_ms: float | None
    rss_load_mb: float
    first_ms: float | None
    accuracy: float | None
    peak_rss_mb: float | None
    providers_active: list[str] | None
    op_placement: dict[str, int] | None
    simulated: str | None
    arena_bytes: int | None
    # the scenario (ScenarioResult's keys, and its latency summary: None on a failed row)
    latency_ms: LatencySummary | None
    # the sweep
    isolated: bool
    cold_ms: LatencySummary | None
    cold_errors: list[str]
    repeats: Repeats
    overhead_vs_raw_us: float
    # a failure's traceback (isolated child)
    error_detail: str
    # a fleet's device
    device: str
    device_env: DeviceEnv | None


#: A key of :class:`BenchRow`; a test checks that it names exactly the row's keys.
RowKey = Literal[
    "artifact",
    "kind",
    "variant",
    "backend",
    "threads",
    "batch",
    "scenario",
    "error",
    "sha256",
    "format",
    "backend_version",
    "delegate",
    "size_bytes",
    "stopping_rule",
    "pin",
    "load_ms",
    "rss_load_mb",
    "first_ms",
    "accuracy",
    "peak_rss_mb",
    "providers_active",
    "op_placement",
    "simulated",
    "arena_bytes",
    "latency_ms",
    "latency_quantiles_ms",
    "warmup_runs",
    "throughput_ips",
    "throughput_sps",
    "measured_s",
    "target_qps",
    "achieved_qps",
    "latency_bound_ms",
    "meets_bound",
    "max_qps",
    "probes",
    "reference",
    "rel_p50",
    "rel_min",
    "rel_mad",
    "headline",
    "noisy",
    "isolated",
    "cold_ms",
    "cold_errors",
    "repeats",
    "overhead_vs_raw_us",
    "error_detail",
    "device",
    "device_env",
]


class TimerInfo(TypedDict):
    """The clock the benchmark timed with, its declared and observed resolution."""

    name: str
    implementation: str
    declared_resolution_ns: float
    observed_resolution_ns: int
    loop_floor_ns: float


class EnvBlock(MachineInfo, total=False):
    """The ``env`` block (:func:`edgeship.bench.machine.environment`); a fleet adds ``devices``."""

    python_implementation: str
    git_commit: str | None
    time: str
    timer: TimerInfo
    devices: dict[str, DeviceEnv]


class SweepConfigDict(RunOptionsDict, StoppingRuleDict, total=False):
    """The ``config`` block: :meth:`edgeship.bench.sweep.BenchConfig.to_dict`, plus a fleet's
    ``cluster`` and ``devices``."""

    artifacts: list[str]
    backends: list[str]
    threads: list[int | None]
    batch: list[int]
    scenario: str
    baselines: list[str]
    cold: int
    repeats: int
    isolate: bool
    timeout_s: float
    cluster: str
    devices: Sequence[str]


class _ResultsRequired(TypedDict):
    schema: str
    env: EnvBlock
    config: SweepConfigDict
    results: list[BenchRow]


class BenchResults(_ResultsRequired, total=False):
    """A results document, schema ``edgeship.bench/1``; a sweep adds hygiene ``warnings``."""

    warnings: list[str]


class ColdStarts(TypedDict):
    """Cold starts of one configuration: how many succeeded, their times, the failures."""

    n: int
    ms: list[float]
    errors: list[str]


class ColdResult(TypedDict, total=False):
    """What a ``cold`` child writes: when its first result came, or why it failed."""

    first_result_ns: int
    backend: str
    error: str


def row_keys() -> frozenset[str]:
    """Every key a :class:`BenchRow` may hold."""
    return frozenset(BenchRow.__required_keys__ | BenchRow.__optional_keys__)


def latency_keys() -> tuple[str, ...]:
    """The statistics of a :class:`LatencySummary`, in order."""
    return get_args(LatencyKey)


def latency_value(row: BenchRow, key: LatencyKey) -> float | None:
    """The statistic ``key`` of ``row["latency_ms"]``; None on a failed row or when absent."""
    summary = row.get("latency_ms")
    return summary.get(key) if summary else None
