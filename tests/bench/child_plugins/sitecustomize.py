"""Test-only probe for bench children, injected from the tests (the product ships none).

With this folder on a child's ``PYTHONPATH`` and ``EDGESHIP_TEST_AFFINITY_LOG=FILE`` set,
each measured configuration appends ``{"pid": ..., "cpus": [...]}`` to ``FILE``: the CPUs the
OS lets the process run on (``os.sched_getaffinity``), read at the first timed call.
"""

from __future__ import annotations

import json
import os
from typing import Any

_LOG = os.environ.get("EDGESHIP_TEST_AFFINITY_LOG")
if _LOG:
    from edgeship.bench import single

    _run_scenario = single.run_scenario

    def _probed(spec: Any, run: Any, *args: Any, **kwargs: Any) -> Any:
        seen: list[int] = []

        def probe(i: int) -> object:
            if not seen:
                seen.append(i)
                entry = {"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0))}
                with open(_LOG, "a", encoding="utf-8") as log:
                    log.write(json.dumps(entry) + "\n")
            return run(i)

        return _run_scenario(spec, probe, *args, **kwargs)

    single.run_scenario = _probed
