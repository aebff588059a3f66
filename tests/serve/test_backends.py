"""Every registered backend serves the artifacts of its formats over KServe v2 and answers as
its own engine does (the server takes the backend by name, as from ``--backend``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeship.runtime import available_backends, load
from edgeship.runtime.backends import BACKENDS
from edgeship.serve import ServeSettings, create_server
from serve.conftest import call

# tf-lite needs TensorFlow in the server and tflite-runtime cannot share a process with it:
# both are served the same way and covered by the TFLite tests; these are the others.
CASES = [
    (backend, variant)
    for backend, info in BACKENDS.items()
    for variant in ("tflite-int8", "onnx-fp32")
    if info.reads(variant.split("-")[0]) and backend not in ("tf-lite", "tflite-runtime")
]


@pytest.mark.parametrize(("backend", "variant"), CASES)
def test_backend_serves_and_agrees_with_its_engine(artifacts, backend: str, variant: str):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed ({BACKENDS[backend].distributions[0]})")
    suffix = "onnx" if variant.startswith("onnx") else "tflite"
    path = artifacts.convert_dir / f"{variant}.{suffix}"
    x = artifacts.digits[:3]
    srv = create_server([path], ServeSettings(port=0), backend=backend)
    with srv, load(str(path), backend=backend) as engine:
        [model] = list(srv.app.registry)
        assert model.backend == backend
        body = {
            "inputs": [
                {
                    "name": model.inputs[0].name,
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "data": x.ravel().tolist(),
                }
            ]
        }
        status, _, raw = call(
            srv, "POST", f"/v2/models/{model.name}/infer", json.dumps(body).encode()
        )
        assert status == 200, raw
        [out] = json.loads(raw)["outputs"]
        got = np.asarray(out["data"], np.float32).reshape(out["shape"])
        np.testing.assert_array_equal(got, engine.predict(x))
