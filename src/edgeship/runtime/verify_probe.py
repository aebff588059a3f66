"""One prediction on zeros, run by the validating child process."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship.errors import EdgeshipError


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
        arrays.append(np.zeros(shape, dtype=spec.np_dtype))
    try:
        engine.predict(arrays if len(arrays) > 1 else arrays[0], raw=True)
    except EdgeshipError as exc:
        return f"probe prediction failed: {exc}"
    return ""
