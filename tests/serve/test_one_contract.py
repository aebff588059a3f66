"""One contract for clients: every variant of a model answers to the model's tensor names and
takes the same request dtype, in the runtime and over KServe v2 HTTP and gRPC.

The demo model (the digits CNN) is converted for real to tflite-int8 and onnx-fp32; the same
tritonclient code then runs against both variants over both protocols.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeship.card import load_card
from edgeship.cli.main import main
from edgeship.runtime import load
from edgeship.serve import ServeSettings, create_server

#: Converts, trains or serves for real: part of `make test`, left out of the matrix runs.
pytestmark = pytest.mark.slow

tgrpc = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is in the dev extra")
thttp = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the dev extra")

VARIANTS = ("tflite-int8", "onnx-fp32")


@pytest.fixture(scope="module")
def converted(digits_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgeship.convert import convert

    out = tmp_path_factory.mktemp("contract") / "artifacts"
    convert(digits_model_dir / "model.keras", out, variants=",".join(VARIANTS))
    return out


@pytest.fixture(scope="module")
def names(digits_model_dir: Path) -> tuple[str, str]:
    card = load_card(digits_model_dir)
    return card.inputs[0].name, card.outputs[0].name


@pytest.fixture(scope="module")
def servers(converted: Path):
    from edgeship.serve.grpc_server import GrpcServer

    srv = create_server([converted], ServeSettings(port=0), workers=1, loader=load)
    with srv, GrpcServer(srv.app, srv.settings, port=0) as grpc_srv:
        yield srv, grpc_srv


def test_manifest_records_each_variants_model_names(converted, names):
    manifest = json.loads((converted / "manifest.json").read_text())
    for record in manifest["variants"]:
        mapping = record["tensor_names"]
        assert list(mapping["inputs"].values()) == [names[0]], record["name"]
        assert list(mapping["outputs"].values()) == [names[1]], record["name"]
    tflite = next(v for v in manifest["variants"] if v["name"] == "tflite-int8")
    # The artifact's own names stay readable: they are the keys.
    assert list(tflite["tensor_names"]["inputs"]) == [f"serving_default_{names[0]}:0"]


def test_engines_of_every_variant_answer_to_the_models_names(converted, names, digits_samples):
    x = digits_samples.single[:16]
    results = {}
    for variant in VARIANTS:
        path = next(converted.glob(f"{variant}.*"))
        with load(path) as engine:
            assert [s.name for s in engine.inputs] == [names[0]], variant
            assert [s.name for s in engine.outputs] == [names[1]], variant
            # The artifact's own names are kept, and accepted as input keys too.
            artifact_in = engine.artifact_inputs[0].name
            assert artifact_in != names[0] or variant.startswith("onnx")
            np.testing.assert_array_equal(
                engine.predict({names[0]: x}), engine.predict({artifact_in: x})
            )
            results[variant] = engine.predict({names[0]: x})
    assert (results["tflite-int8"].argmax(1) == results["onnx-fp32"].argmax(1)).mean() > 0.9


def _same_client_code(client, module, model: str, inp: str, out: str, x: np.ndarray):
    """What a client writes once: read the metadata, send its datatype, read the output."""
    meta = client.get_model_metadata(model)
    meta = meta if isinstance(meta, dict) else json.loads(_to_json(meta))
    assert [t["name"] for t in meta["inputs"]] == [inp]
    assert [t["name"] for t in meta["outputs"]] == [out]
    datatype = meta["inputs"][0]["datatype"]
    request = module.InferInput(inp, list(x.shape), datatype)
    request.set_data_from_numpy(x)
    result = client.infer(model, [request], outputs=[module.InferRequestedOutput(out)])
    return datatype, meta["outputs"][0]["datatype"], result.as_numpy(out)


def _to_json(message) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(message, preserving_proto_field_name=True)


def test_the_same_tritonclient_code_runs_every_variant_over_http_and_grpc(
    servers, names, digits_samples
):
    srv, grpc_srv = servers
    x = np.ascontiguousarray(digits_samples.single[:8], dtype=np.float32)
    http_client = thttp.InferenceServerClient(f"127.0.0.1:{srv.port}")
    grpc_client = tgrpc.InferenceServerClient(grpc_srv.address)
    try:
        answers = {}
        for variant in VARIANTS:
            for client, module in ((http_client, thttp), (grpc_client, tgrpc)):
                answers[variant, module.__name__] = _same_client_code(
                    client, module, variant, names[0], names[1], x
                )
    finally:
        http_client.close()
        grpc_client.close()
    dtypes = {(a[0], a[1]) for a in answers.values()}
    assert dtypes == {("FP32", "FP32")}, answers
    for (variant, _), (_, _, y) in answers.items():
        assert y.shape == (8, 10) and y.dtype == np.float32, variant
        assert (y.argmax(1) == digits_samples.labels[:8]).mean() >= 0.75, variant


def test_quantization_is_discoverable_in_the_model_config(servers, names):
    srv, grpc_srv = servers
    http_client = thttp.InferenceServerClient(f"127.0.0.1:{srv.port}")
    grpc_client = tgrpc.InferenceServerClient(grpc_srv.address)
    try:
        configs = [
            http_client.get_model_config("tflite-int8"),
            grpc_client.get_model_config("tflite-int8", as_json=True)["config"],
        ]
        float_config = http_client.get_model_config("onnx-fp32")
    finally:
        http_client.close()
        grpc_client.close()
    for config in configs:
        assert config["input"][0]["data_type"] == "TYPE_FP32"
        quant = json.loads(config["parameters"][f"{names[0]}.quantization"]["string_value"])
        assert quant["dtype"] == "int8" and quant["scale"] > 0
        assert -128 <= quant["zero_point"] <= 127
        assert "quantizes" in quant["server"]
        assert json.loads(config["parameters"]["artifact_tensor_names"]["string_value"]) == {
            "inputs": {f"serving_default_{names[0]}:0": names[0]},
            "outputs": {"StatefulPartitionedCall:0": names[1]},
        }
    assert not any(k.endswith(".quantization") for k in float_config.get("parameters", {}))


def test_inspect_shows_the_model_names_and_quantization(converted, names, capsys):
    path = converted / "tflite-int8.tflite"
    assert main(["inspect", str(path), "--json", "--no-gpu-check"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"][0]["name"] == f"serving_default_{names[0]}:0"
    assert info["inputs"][0]["model_name"] == names[0]
    assert info["outputs"][0]["model_name"] == names[1]
    assert info["inputs"][0]["dtype"] == "int8" and info["inputs"][0]["scale"] > 0
    assert main(["inspect", str(path), "--no-gpu-check"]) == 0
    text = capsys.readouterr().out
    assert f"serving_default_{names[0]}:0 -> {names[0]}" in text
    assert "scale=" in text and "zero_point=" in text


def test_names_come_from_the_manifest_else_the_card_else_the_artifact(converted, names, tmp_path):
    import shutil

    from edgeship.runtime.names import model_names

    src = converted / "tflite-int8.tflite"
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(src, bare / "m.tflite")
    with load(bare / "m.tflite") as engine:  # no manifest, no card: derived from the file
        assert [s.name for s in engine.inputs] == [names[0]]
        assert [s.name for s in engine.outputs] == ["StatefulPartitionedCall:0"]
    shutil.copy(converted / "edgeship.json", bare / "edgeship.json")
    with load(bare / "m.tflite") as engine:  # a card beside: its output name, by order
        assert [s.name for s in engine.outputs] == [names[1]]
    art_in, art_out = [f"serving_default_{names[0]}:0"], ["StatefulPartitionedCall:0"]
    # The manifest's record wins over the card; one that does not fit this file is ignored.
    record = {"inputs": {art_in[0]: "pixels"}, "outputs": {art_out[0]: "scores"}}
    (bare / "manifest.json").write_text(
        json.dumps({"variants": [{"name": "m", "file": "m.tflite", "tensor_names": record}]})
    )
    assert model_names(bare / "m.tflite", art_in, art_out) == (("pixels",), ("scores",))
    record["inputs"] = {"other:0": "pixels"}
    (bare / "manifest.json").write_text(
        json.dumps({"variants": [{"name": "m", "file": "m.tflite", "tensor_names": record}]})
    )
    assert model_names(bare / "m.tflite", art_in, art_out) == ((names[0],), (names[1],))
