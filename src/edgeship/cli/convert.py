"""`edgeship convert`: build TFLite/ONNX variants of a Keras model, each parity-checked."""

from __future__ import annotations

import sys
import time
from typing import Any

from edgeship.cli._common import add_command, add_json_flag, add_unsafe_flag, csv_list, print_json
from edgeship.manifest import MANIFEST_FILENAME, Manifest

EXAMPLES = """\
  edgeship convert runs/m/model.keras --to all --out runs/m/artifacts
  edgeship convert model.keras --to tflite-fp32,onnx-int8 --calibration cal.npz --out out
  edgeship convert model.keras --to tflite-dynamic --target-runtime tflite-runtime==2.14 --out out
  edgeship convert model.keras --to onnx-fp32 --target-runtime onnxruntime==1.14 --strict --out out
  edgeship convert model.keras --to onnx-int8 --calibration-method entropy --opset 17 --out out
  edgeship convert saved_model/ --to all --eval eval.npz --max-accuracy-drop 0.5 --out out
  edgeship convert model.keras --to tflite-int8 --batch-size 1 --out out   # Edge TPU / NPU
  edgeship convert text.keras --input-shape token_ids=1x128 --out out   # a fixed sequence length
  edgeship convert model.keras --to tflm-int8 --board cortex-m4-256k --out out   # microcontroller
  edgeship convert model.keras --to tflm-int8 --max-arena-kb 64 --max-flash-kb 128 --out out
  edgeship convert lambda_model.keras --to all --unsafe --out out   # trusted files only

variants: tflite-fp32 tflite-fp16 tflite-dynamic tflite-int8 tflite-int8-float-io tflite-int16x8
          onnx-fp32 onnx-fp16 onnx-dynamic onnx-int8 tflm-int8   (or 'all')
boards:   cortex-m0-32k cortex-m4-256k cortex-m7-512k esp32-s3   (tflm-int8 budgets)
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "convert",
        "Convert a Keras model to TFLite/ONNX variants, parity-checked, with a manifest.",
        EXAMPLES,
    )
    parser.add_argument("model", help=".keras or .h5 file, or a SavedModel directory")
    parser.add_argument("--out", required=True, help="output directory for the artifacts")
    parser.add_argument(
        "--to",
        "--variants",
        dest="to",
        default="default",
        help="comma-separated variant names, or a preset: 'default' (tflite-fp32, tflite-int8, "
        "onnx-fp32) or 'all' (default: %(default)s); --variants is the same flag, as in "
        "`edgeship pipeline`",
    )
    parser.add_argument(
        "--calibration",
        help=".npz, .npy (one input) or dataset name (default: the card's calibration.npz)",
    )
    parser.add_argument("--eval", dest="eval_data", help=".npz or dataset name for parity")
    parser.add_argument("--opset", type=int, help="ONNX opset (13..18, default 17)")
    parser.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=1.0,
        help="largest accepted accuracy drop in percentage points (default: %(default)s)",
    )
    parser.add_argument(
        "--target-runtime",
        help="e.g. tflite-runtime==2.14, onnxruntime>=1.16, opset<=13: stay compatible or fail",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when --target-runtime could not be verified here (not installed)",
    )
    parser.add_argument(
        "--calibration-method",
        choices=("minmax", "entropy", "percentile"),
        help="onnx-int8 calibration method (default minmax)",
    )
    parser.add_argument(
        "--activation-type",
        choices=("uint8", "int8"),
        help="onnx-int8 activation type (default uint8, faster on x86)",
    )
    parser.add_argument("--calibration-samples", type=int, help="calibration samples (default 200)")
    parser.add_argument(
        "--per-channel-dense",
        action="store_true",
        help="quantize dense weights per channel in tflite-int8 variants (default per tensor, "
        "as TFLite's int8 spec and most NPUs expect)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="fix the batch dimension (e.g. 1: static shapes, as the Edge TPU compiler and NPU "
        "toolchains need; default free)",
    )
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxD",
        help="fix an input's whole shape, batch first (e.g. token_ids=1x128): dynamic "
        "dimensions such as a sequence length become static (repeatable)",
    )
    parser.add_argument("--keep-float", help="comma-separated layer/node names to keep in float")
    parser.add_argument(
        "--debug-quant",
        action="store_true",
        help="write the per-layer error of each quantized variant (int8, int16x8, dynamic "
        "range, onnx-fp16) against the float model to <variant>.quant-debug.csv",
    )
    parser.add_argument(
        "--auto-keep-float",
        action="store_true",
        help="keep layers of a failing int8 variant in float where that measurably helps "
        "(among the 5 worst-ranked layers); name the likely cause when it cannot pass",
    )
    parser.add_argument(
        "--board",
        help="microcontroller budget preset for tflm-int8 (e.g. cortex-m4-256k: 256 KiB RAM, "
        "1 MiB flash); a variant over it fails",
    )
    parser.add_argument(
        "--max-arena-kb", type=float, help="tflm-int8 tensor arena budget in KiB (over --board)"
    )
    parser.add_argument(
        "--max-flash-kb", type=float, help="tflm-int8 model (flash) budget in KiB (over --board)"
    )
    parser.add_argument("--force", action="store_true", help="replace existing artifacts")
    add_unsafe_flag(parser)
    parser.add_argument(
        "--skip-runtime-check",
        action="store_true",
        help="do not run each artifact on every installed interpreter",
    )
    add_json_flag(parser, "the manifest")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def _options(args: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.opset is not None:
        options["opset"] = args.opset
    if args.calibration_method:
        options["calibration_method"] = args.calibration_method
    if args.activation_type:
        options["activation_type"] = args.activation_type
    if args.calibration_samples is not None:
        options["calibration_samples"] = args.calibration_samples
    if args.keep_float:
        options["keep_float"] = csv_list(args.keep_float)
    if args.per_channel_dense:
        options["tflite_int8_per_channel_dense"] = True
    if args.debug_quant:
        options["debug_quant"] = True
    if args.auto_keep_float:
        options["auto_keep_float"] = True
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.input_shape:
        options["input_shapes"] = tuple(csv_list(",".join(args.input_shape)))
    for key in ("board", "max_arena_kb", "max_flash_kb"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options


class _Progress:
    """One stderr line per step with elapsed seconds."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        if not sys.stderr.isatty():
            print(f"[{done}/{total}] {elapsed:6.1f}s {step}", file=sys.stderr)
            return
        width = 20
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        print(f"\r[{bar}] {done}/{total} {elapsed:6.1f}s {step:<24}", end="", file=sys.stderr)
        if step == "done":
            print(file=sys.stderr)


def format_table(manifest: Manifest | dict[str, Any]) -> str:
    """A plain-text table of the manifest's variants (the route where it is not the primary)."""
    from edgeship.convert.routes import ladder

    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    rows = [("variant", "status", "size", "max_abs_err", "top1", "acc_delta", "runtimes ok")]
    random_inputs = str((manifest.get("data") or {}).get("eval") or "").startswith("random")
    for v in manifest.get("variants", []):
        parity = v.get("parity") or {}
        runtimes = v.get("runtimes") or {}
        ok = [k.split(" ")[0] for k, r in runtimes.items() if r == "ok"]
        rows.append(
            (
                v["name"],
                _status(v, ladder(v["name"])[0].name)
                + (" (random inputs: agreement only)" if random_inputs else ""),
                _size(v.get("size_bytes")),
                _num(parity.get("max_abs_error"), "{:.2e}"),
                _num(None if random_inputs else parity.get("top1_agreement"), "{:.4f}"),
                _num(parity.get("accuracy_delta"), "{:+.2f}"),
                ",".join(ok) or "-",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    for v in manifest.get("variants", []):
        if v.get("target"):
            lines.append(f"  {v['name']}: target {manifest.get('target_runtime')}: {v['target']}")
        for err in v.get("errors") or []:
            lines.append(f"  {v['name']}: {_display(err)}")
        if (v.get("mcu") or {}).get("arena_bytes"):
            lines.append(f"  {v['name']}: {_mcu_line(v['mcu'])}")
        limits = (v.get("parity") or {}).get("error_limits") or {}
        if not limits.get("gate"):  # with labels: the accuracy gate decided; say it anyway
            for reason in limits.get("exceeded") or []:
                lines.append(f"  {v['name']}: beside the accuracy: {reason}")
    if random_inputs:
        lines.append(
            "parity ran on random inputs (no eval data): agreement with the source model only, "
            "no accuracy. Pass --eval with real samples."
        )
    lines += [f"warning: {w}" for w in manifest.get("warnings") or []]
    return "\n".join(lines)


def _mcu_line(mcu: dict[str, Any]) -> str:
    """Arena, flash, agreement with LiteRT and the bundle of a microcontroller variant."""
    steps = mcu.get("litert_parity") or {}
    text = f"arena {mcu['arena_bytes'] / 1024:.1f} KiB, flash {mcu['flash_bytes'] / 1024:.1f} KiB"
    if steps.get("max_steps") is not None:
        text += (
            f", vs {steps['reference']}: max {steps['max_steps']} quantization step(s), "
            f"{steps['within_1_step']:.2%} within 1"
        )
    if mcu.get("bundle"):
        text += f", bundle {mcu['bundle']['dir']}/"
    return text


def _display(text: str, limit: int = 600) -> str:
    """``text`` cut for the console (the manifest keeps it whole)."""
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _status(v: dict[str, Any], primary_route: str) -> str:
    """ "ok", "failed", with the route where it is not the primary and an unverified target."""
    text = v["status"]
    if v.get("route") and v["route"] != primary_route:
        text += f" (route {v['route']})"
    if str(v.get("target") or "").startswith("not verified"):
        text += ", target not verified"
    if v.get("flags"):  # quantized nothing or did not shrink (edgeship.convert.weights)
        text += ", flagged"
    return text


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _size(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} KiB" if value < 1024 * 1024 else f"{value / 2**20:.2f} MiB"


def run(args: Any) -> int:
    from edgeship.convert import convert
    from edgeship.errors import ParityError

    progress = _Progress(args.quiet or args.json)
    try:
        manifest = convert(
            args.model,
            args.out,
            variants=args.to,
            calibration=args.calibration,
            eval_data=args.eval_data,
            max_accuracy_drop=args.max_accuracy_drop,
            force=args.force,
            target_runtime=args.target_runtime,
            progress=progress,
            options=_options(args),
            check_runtimes=not args.skip_runtime_check,
            unsafe=args.unsafe,
        )
    except ParityError as exc:
        if not progress.quiet:
            print(file=sys.stderr)
        _show(exc.manifest or Manifest.read(args.out), args)
        raise
    _show(manifest, args)
    unverified = not_verified(manifest)
    if args.strict and unverified:
        print(
            f"edgeship convert: error: --strict: {', '.join(unverified)} could not be verified "
            f"on target {manifest.get('target_runtime')} (not installed here). Install it and "
            "convert again, or drop --strict.",
            file=sys.stderr,
        )
        return 1
    return 0


def not_verified(manifest: dict[str, Any]) -> list[str]:
    """Variants whose ``--target-runtime`` verdict is "not verified" (runtime not installed)."""
    return [
        v["name"]
        for v in manifest.get("variants", [])
        if str(v.get("target") or "").startswith("not verified")
    ]


def _show(manifest: Manifest | dict[str, Any], args: Any) -> None:
    if args.json:
        print_json(manifest.to_dict() if isinstance(manifest, Manifest) else manifest)
    else:
        print(format_table(manifest))
        print(f"manifest: {args.out}/{MANIFEST_FILENAME}")
