"""A deliberately slowed backend for ``benchmarks/compare_noise.py`` (the product ships none).

With this folder on a bench child's ``PYTHONPATH`` and ``EDGESHIP_BENCH_SLOWDOWN=F`` set (e.g.
0.2), every timed query spins after it returns until ``(1 + F)`` times its own duration has
passed: a real slowdown of ``F`` at every moment of the run, whatever the machine's load.
The reference kernel timed after each query is not slowed: the model got slower, the machine
did not.
"""

from __future__ import annotations

import os
import time
from typing import Any

_FACTOR = float(os.environ.get("EDGESHIP_BENCH_SLOWDOWN") or 0.0)
if _FACTOR > 0:
    from edgeship.bench import single

    _run_scenario = single.run_scenario

    def _slowed(spec: Any, run: Any, *args: Any, **kwargs: Any) -> Any:
        def query(i: int) -> object:
            start = time.perf_counter_ns()
            out = run(i)
            until = start + int((time.perf_counter_ns() - start) * (1.0 + _FACTOR))
            while time.perf_counter_ns() < until:
                pass
            return out

        return _run_scenario(spec, query, *args, **kwargs)

    single.run_scenario = _slowed
