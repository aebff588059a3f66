"""One prediction on zeros, run by the validating child process."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship.errors import EdgeshipError

#: Largest input the probe allocates; bigger (often corrupt) shapes are not probed.
PROBE_LIMIT_BYTES = 1 << 28


def probe(engine: Any) -> str:
    """Run ``engine`` once on zeros (free dimensions set to 1); return a note on failure.

    A typed error here is not fatal (the zeros may not suit the model); a crash is, and
    that is what running it in a child process catches.
    """
    arrays = []
    for spec in engine.inputs:
        if spec.dtype == "str":
            return "string inputs: not probed"
        shape = tuple(1 if d is None else d for d in spec.shape)
        nbytes = int(np.prod(shape, dtype=np.float64)) * spec.np_dtype.itemsize
        if nbytes > PROBE_LIMIT_BYTES:
            return f"input '{spec.name}' {shape} needs {nbytes} bytes: not probed"
        arrays.append(np.zeros(shape, dtype=spec.np_dtype))
    try:
        engine.predict(arrays if len(arrays) > 1 else arrays[0], raw=True)
    except (EdgeshipError, MemoryError) as exc:
        return f"probe prediction failed: {exc}"
    return ""
