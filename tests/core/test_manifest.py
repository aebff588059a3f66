"""The manifest: one typed definition, read and written the same way by every stage."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgeship.errors import ModelLoadError, ParityError
from edgeship.manifest import (
    MANIFEST_FILENAME,
    MANIFEST_SCHEMA,
    Manifest,
    VariantRecord,
    read_manifest,
    write_manifest,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "edgeship"

#: A manifest as convert writes it, with fields added by newer versions at both levels.
DOC = {
    "schema": MANIFEST_SCHEMA,
    "created": "2026-11-27T10:00:00+00:00",
    "source": {"path": "m.keras", "sha256": "a" * 64, "kind": "keras"},
    "card": "edgeship.json",
    "options": {"opset": 17},
    "target_runtime": None,
    "future_top_level": {"kept": True},
    "variants": [
        {
            "name": "tflite-int8",
            "format": "tflite",
            "route": "from-keras",
            "file": "tflite-int8.tflite",
            "sha256": "b" * 64,
            "size_bytes": 1234,
            "params": {"float_ops": []},
            "parity": {"top1_agreement": 1.0, "max_abs_error": 0.01},
            "tolerance": {"max_abs_error": 0.05},
            "calibration_range": [0.0, 1.0],
            "status": "ok",
            "errors": [],
        },
        {
            "name": "onnx-int8",
            "file": "onnx-int8.onnx",
            "sha256": None,
            "size_bytes": None,
            "parity": None,
            "status": "failed",
            "errors": ["converter crashed (SIGSEGV)"],
            "not_verified": True,
        },
    ],
    "versions": {"numpy": "1.26.4"},
}


def test_round_trip_keeps_every_field_and_its_order(tmp_path):
    manifest = Manifest.from_dict(DOC)
    assert json.dumps(manifest.to_dict()) == json.dumps(DOC)
    path = write_manifest(tmp_path, manifest)
    assert path == tmp_path / MANIFEST_FILENAME
    assert json.loads(path.read_text()) == DOC
    again = Manifest.read(tmp_path)
    assert again == manifest
    assert again.location == path
    assert list(again.to_dict()["variants"][0]) == list(DOC["variants"][0])
    assert read_manifest(tmp_path) == json.loads(json.dumps(DOC))


def test_typed_access_and_ok_variants(tmp_path):
    manifest = Manifest.from_dict(DOC)
    [ok] = manifest.ok_variants()
    [failed] = manifest.failed_variants()
    assert (ok.name, ok.file, ok.ok, ok.size_bytes, ok.route) == (
        "tflite-int8", "tflite-int8.tflite", True, 1234, "from-keras"
    )  # fmt: skip
    assert ok.parity == {"top1_agreement": 1.0, "max_abs_error": 0.01}
    assert ok.extra["tolerance"] == {"max_abs_error": 0.05}
    assert failed.errors == ["converter crashed (SIGSEGV)"] and failed.parity is None
    assert failed.get("not_verified") is True
    assert manifest.variant("onnx-int8") == failed and manifest.variant("x") is None
    assert manifest.for_file("/elsewhere/tflite-int8.tflite") == ok
    assert manifest.ok_artifacts(tmp_path) == [tmp_path / "tflite-int8.tflite"]
    assert manifest.source == DOC["source"] and manifest.card == "edgeship.json"
    changed = ok.with_fields(status="failed", new_flag=3)
    assert not changed.ok and changed.extra["new_flag"] == 3 and ok.ok
    grown = Manifest().with_variant(VariantRecord("v", "v.onnx", "ok", "c" * 64, 10))
    assert grown.to_dict()["variants"] == [
        {"name": "v", "file": "v.onnx", "status": "ok", "sha256": "c" * 64, "size_bytes": 10}
    ]


def test_bad_manifests_raise_typed_errors_naming_what_was_expected(tmp_path):
    with pytest.raises(ModelLoadError, match=r"No manifest at .*Expected 'manifest\.json'"):
        Manifest.read(tmp_path)
    (tmp_path / MANIFEST_FILENAME).write_text("{not json")
    with pytest.raises(ModelLoadError, match="is not valid JSON"):
        Manifest.read(tmp_path)
    (tmp_path / MANIFEST_FILENAME).write_text('{"schema": "other/9", "variants": []}')
    expected = re.escape("Expected a manifest with schema 'edgeship.manifest/1'. Got: 'other/9'")
    with pytest.raises(ModelLoadError, match=expected):
        Manifest.read(tmp_path)
    assert Manifest.read(tmp_path, require_schema=False).variants == ()
    with pytest.raises(ModelLoadError, match="expected 'variants' to be a list"):
        Manifest.from_dict({"schema": MANIFEST_SCHEMA, "variants": 3})
    with pytest.raises(ModelLoadError, match="a string 'name'"):
        Manifest.from_dict({"schema": MANIFEST_SCHEMA, "variants": [{"name": "x", "file": 3}]})
    with pytest.raises(ModelLoadError, match="to be a JSON object"):
        Manifest.from_dict({"schema": MANIFEST_SCHEMA, "variants": ["x"]})


def test_parity_error_carries_the_manifest():
    manifest = Manifest.from_dict(DOC)
    error = ParityError("one failed", failures=["onnx-int8"], manifest=manifest)
    assert error.manifest is manifest and error.failures == ["onnx-int8"]
    assert ParityError("x").manifest is None


def test_manifest_module_needs_no_numpy():
    code = "import sys; import edgeship.manifest; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _reads_manifest_by_hand(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == MANIFEST_FILENAME:
            found.append(f"line {node.lineno}: the literal {MANIFEST_FILENAME!r}")
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.startswith("MANIFEST_"):
                    found.append(f"line {node.lineno}: defines {target.id}")
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            args = " ".join(ast.unparse(a) for a in node.args).lower()
            if name in {"read_json", "load", "loads", "open", "read_text"} and "manifest" in args:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_manifest_module_parses_manifest_json():
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "manifest.py":
            continue
        found = _reads_manifest_by_hand(ast.parse(path.read_text(), str(path)))
        if found:
            offenders[str(path.relative_to(SRC))] = found
    assert offenders == {}, f"read manifests through edgeship.manifest: {offenders}"
    # the check itself catches a hand-written reader
    sample = "MANIFEST_FILENAME = 'manifest.json'\nread_json(d / 'manifest.json')\n"
    assert len(_reads_manifest_by_hand(ast.parse(sample))) == 4


def test_bench_and_serve_name_an_artifact_by_its_manifest_record(tmp_path):
    from edgeship.fileio import sha256_file
    from edgeship.manifest import variant_name
    from edgeship.serve.naming import variant_of

    artifact = tmp_path / "model-a.tflite"
    artifact.write_bytes(b"0000TFL3")
    assert variant_name(str(artifact)) == "model-a"  # no manifest: the file name
    record = VariantRecord("tflite-int8", artifact.name, "ok", sha256_file(artifact), 8)
    write_manifest(tmp_path, Manifest().with_variant(record))
    assert variant_name(str(artifact), sha256_file(artifact)) == "tflite-int8"
    assert variant_of(artifact) == "tflite-int8"  # what serve names it
    assert variant_name(str(artifact), "0" * 64) == "model-a"  # another file of that name
    (tmp_path / MANIFEST_FILENAME).write_text("{broken")
    assert variant_name(str(artifact)) == "model-a"


def test_a_real_convert_reads_back_whole_and_its_parity_error_carries_it(
    digits_model_dir, tmp_path
):
    """What convert writes is what the records give back, key for key; a failed gate's
    error holds that manifest, so no caller reads it again."""
    from edgeship.convert import convert

    out = tmp_path / "out"
    with pytest.raises(ParityError) as info:
        convert(
            digits_model_dir / "model.keras",
            out,
            variants=("tflite-fp32",),
            max_accuracy_drop=-100.0,  # a gain no variant can show: the gate fails
            check_runtimes=False,
        )
    on_disk = read_manifest(out)
    manifest = info.value.manifest
    assert manifest is not None and manifest.location == out / MANIFEST_FILENAME
    assert json.dumps(manifest.to_dict()) == json.dumps(on_disk)
    assert manifest == Manifest.read(out)
    [record] = manifest.failed_variants()
    assert record.name == "tflite-fp32" and record.sha256 == on_disk["variants"][0]["sha256"]
    assert any("accuracy" in e for e in record.errors) and record.parity is not None
    assert manifest.ok_variants() == () and info.value.failures == ["tflite-fp32"]
