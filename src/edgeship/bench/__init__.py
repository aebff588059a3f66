"""Benchmark harness: one honest measurement of every artifact, backend and scenario.

Stages: :mod:`timer` (perf_counter_ns loop, warm-up and stopping rules as data) ->
:mod:`stats` (stdlib statistics) -> :mod:`sweep` (each configuration in its own process) ->
:mod:`storage` (``edgeship.bench/1`` JSON with machine, versions, commit) -> :mod:`report` ->
:mod:`compare`. The row and the document they hand each other are typed in :mod:`records`
(``BenchRow``, ``BenchResults``). Imports only the standard library, numpy and the backend
asked for.

Example:
    >>> from edgeship.bench import BenchConfig, run_sweep, save_results  # doctest: +SKIP
    >>> results = run_sweep(BenchConfig(artifacts=("m/tflite-int8.tflite",), threads=(1, 2)))
    >>> save_results("bench.json", results)
"""

from edgeship.bench.records import BenchResults, BenchRow
from edgeship.bench.scenarios import Scenario
from edgeship.bench.stats import percentile, summarize
from edgeship.bench.storage import SCHEMA, load_results, merge_results, save_results
from edgeship.bench.sweep import BenchConfig, LiveTable, plan, run_sweep
from edgeship.bench.timer import StoppingRule, Timing, measure

__all__ = [
    "SCHEMA",
    "BenchConfig",
    "BenchResults",
    "BenchRow",
    "LiveTable",
    "Scenario",
    "StoppingRule",
    "Timing",
    "load_results",
    "measure",
    "merge_results",
    "percentile",
    "plan",
    "run_sweep",
    "save_results",
    "summarize",
]
