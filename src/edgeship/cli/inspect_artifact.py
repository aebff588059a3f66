"""`edgeship inspect`: tensors, operators, Edge TPU and GPU-delegate readiness of an artifact."""

from __future__ import annotations

from typing import Any

from edgeship.cli._common import add_command, add_json_flag, print_json

EXAMPLES = """\
  edgeship inspect runs/m/artifacts/tflite-int8.tflite
  edgeship inspect runs/m/artifacts/onnx-int8.onnx --json
  edgeship inspect model.tflite --no-gpu-check      # skip the GPU-delegate analyzer
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "inspect",
        "Show an artifact's inputs, outputs, operators, Edge TPU and GPU readiness.",
        EXAMPLES,
    )
    parser.add_argument("artifact", help=".tflite or .onnx file")
    add_json_flag(parser)
    parser.add_argument(
        "--no-gpu-check", action="store_true", help="skip the GPU-delegate compatibility analyzer"
    )
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    from edgeship.convert.artifact_info import inspect_artifact

    info = inspect_artifact(args.artifact, gpu_check=not args.no_gpu_check)
    if args.json:
        print_json(info)
    else:
        print(format_info(info))
    return 0


def _tensor_line(t: dict[str, Any]) -> str:
    shape = "(" + ", ".join("?" if d is None else str(d) for d in t["shape"]) + ")"
    quant = ""
    scale = t.get("scale")
    if scale is not None:
        if isinstance(scale, list):
            quant = f"  per-channel ({len(scale)} scales)"
        else:
            quant = f"  scale={scale:.6g} zero_point={t.get('zero_point')}"
    name = t["name"]
    if t.get("model_name") not in (None, name):
        name += f" -> {t['model_name']}"
    return f"  {name}  {shape}  {t['dtype']}{quant}"


def format_info(info: dict[str, Any]) -> str:
    """Human-readable form of :func:`edgeship.convert.artifact_info.inspect_artifact`'s result."""
    lines = [f"{info['path']}  ({info['format']}, {info['size_bytes']:,} bytes)"]
    if info["format"] == "onnx" and info.get("opset"):
        lines.append(f"opset: {info['opset'].get('ai.onnx')}  producer: {info.get('producer', '')}")
    lines.append("inputs:")
    lines += [_tensor_line(t) for t in info["inputs"]]
    lines.append("outputs:")
    lines += [_tensor_line(t) for t in info["outputs"]]
    if info.get("ops"):
        lines.append("operators:")
        for op in info["ops"]:
            version = f" v{op['version']}" if "version" in op else ""
            lines.append(f"  {op['op']}{version} x{op['count']}")
    if "edgetpu" in info:
        tpu = info["edgetpu"]
        lines.append(f"edge tpu ready: {'yes' if tpu['ready'] else 'no'}")
        lines += [f"  - {r}" for r in tpu["reasons"][:10]]
    gpu = info.get("gpu_delegate")
    if gpu is not None:
        verdict = {True: "yes", False: "no", None: "unknown"}[gpu["compatible"]]
        lines.append(f"gpu delegate compatible: {verdict}")
        lines += [f"  - {w}" for w in gpu["warnings"][:10]]
    return "\n".join(lines)
