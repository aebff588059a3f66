"""``edgeship pipeline --accelerator``: the device reaches every benchmarked configuration and
is recorded in the results; an accelerator for a backend that takes none, a name the backend
does not know, or one that is absent stops the run with a typed error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeship.cli.main import main
from edgeship.errors import BackendError, ConfigError
from edgeship.pipeline import PipelineConfig, run_pipeline
from edgeship.runtime import available_backends


@pytest.fixture(scope="module")
def openvino_run(digits_model_dir, tmp_path_factory):
    """One variant benchmarked on OpenVINO's CPU device through the command line."""
    if "openvino" not in available_backends():
        pytest.skip("openvino is not installed (pip install 'edgeship[openvino]')")
    out = tmp_path_factory.mktemp("pipeline_accelerator") / "run"
    code = main(
        ["pipeline", "--model", str(digits_model_dir / "model.keras"), "--variants",
         "tflite-fp32", "--backend", "openvino", "--accelerator", "CPU", "--threads", "1",
         "--bench-min-seconds", "0.02", "--bench-repeats", "1", "--cold", "0",
         "--no-keras-baseline", "--out", str(out)]
    )  # fmt: skip
    return out, code


def test_results_and_bench_rows_record_the_device(openvino_run, capsys):
    out, code = openvino_run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["accelerator"] == "CPU"
    rows = json.loads((out / "bench.json").read_text())["results"]
    assert rows and all(r["error"] is None for r in rows)
    assert {(r["variant"], r["backend"], r["delegate"]) for r in rows} == {
        ("tflite-fp32", "openvino", "device CPU")
    }
    assert results["recommendation"]["backend"] == "openvino"
    assert any("--accelerator CPU" in c for c in results["commands"])


def test_cli_prints_the_recommended_device(openvino_run, digits_model_dir, capsys):
    out, _ = openvino_run
    capsys.readouterr()
    code = main(["pipeline", "--config", str(out / "config.json"), "--out", str(out), "--resume"])
    assert code == 0
    assert "Recommendation: ship tflite-fp32 on openvino (CPU) with 1 thread(s)." in (
        capsys.readouterr().out
    )


def test_absent_accelerator_stops_before_the_bench(openvino_run):
    out, _ = openvino_run
    base = PipelineConfig(**{
        k: v for k, v in json.loads((out / "config.json").read_text()).items() if k != "schema"
    })  # fmt: skip
    if "litert-compiled" in available_backends():
        # No CI machine has a LiteRT NPU: the model is compiled for it alone, with no fallback.
        config = base.replace(backends=["litert-compiled"], accelerator="npu")
        with pytest.raises(BackendError, match=r"LiteRT accelerator 'npu' cannot run .*"):
            run_pipeline(config, resume=True)
    import openvino as ov

    here = ov.Core().available_devices
    absent = next((d for d in ("NPU", "GPU") if not any(a.startswith(d) for a in here)), None)
    if absent is not None:
        with pytest.raises(BackendError, match=rf"device '{absent}' is not available.*Available"):
            run_pipeline(base.replace(accelerator=absent), resume=True)
    assert not list(Path(out).glob("*.tmp*"))


def test_accelerator_needs_a_backend_that_takes_one():
    with pytest.raises(
        ConfigError,
        match=r"accelerator 'GPU' applies to the openvino and litert-compiled backends only. "
        r"Got backends \['openvino', 'litert'\]: \['litert'\] take none. Use --backend openvino",
    ):
        PipelineConfig(backends=("openvino", "litert"), accelerator="GPU")
    with pytest.raises(ConfigError, match=r"Unknown LiteRT accelerator 'AUTO'. Expected one of"):
        PipelineConfig(backends=("openvino", "litert-compiled"), accelerator="AUTO")
    with pytest.raises(ConfigError, match=r"Unknown OpenVINO device 'TPU'. Expected one of CPU"):
        PipelineConfig(backends=("openvino",), accelerator="TPU")
    assert PipelineConfig(backends=("openvino", "litert-compiled"), accelerator="gpu")
