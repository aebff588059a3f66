"""`edgeship predict`: run an artifact on an input file and print the top classes."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from edgeship.cli._common import add_command, add_json_flag, print_json
from edgeship.cli._runtime_flags import add_runtime_flags
from edgeship.errors import ConfigError, ProviderFallbackWarning
from edgeship.runtime_flags import parse_key_values, parse_providers

EXAMPLES = """\
  edgeship predict artifacts/tflite-int8.tflite --input digit.png
  edgeship predict artifacts/tflite-fp32.tflite --input eval.npz --top-k 3 --json
  edgeship predict artifacts/onnx-fp32.onnx --input batch.npy --provider cpu --threads 2
  edgeship predict model.tflite --input x.npy --delegate edgetpu
  edgeship predict model.onnx --input x.npy --backend openvino --accelerator GPU
"""


def register(subparsers: Any) -> None:
    """Add the ``predict`` command."""
    parser = add_command(
        subparsers, "predict", "Run a .tflite or .onnx artifact on an input file.", EXAMPLES
    )
    parser.add_argument("artifact", help=".tflite or .onnx model file")
    parser.add_argument(
        "--input",
        required=True,
        help=".npy (model-ready batch), .npz (samples: 'x' or 'x:<input>'), or an image "
        "(.png/.jpg, 8- or 16-bit: mapped onto the card's raw range, then preprocessed)",
    )
    add_runtime_flags(parser)
    parser.add_argument("--top-k", type=int, default=5, help="classes to show per sample")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    parser.add_argument(
        "--preprocess",
        action="store_true",
        help="apply the card's preprocessing to .npy and .npz input (raw dataset values)",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the child-process check of untrusted files"
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _read_inputs(path: Path, engine: Any, preprocess: bool) -> tuple[Any, Any]:
    from edgeship.fileio import not_a_file
    from edgeship.runtime.preprocess import IMAGE_SUFFIXES, load_input, normalize

    suffix = path.suffix.lower()
    if not path.is_file():
        raise ConfigError(
            f"--input {path} {not_a_file(path)}. Expected an image, .npy or .npz file."
        )
    if preprocess and engine.card is None:
        raise ConfigError(
            f"--preprocess needs the model card (edgeship.json) beside {engine.path}; none was "
            "found. Copy the card there, or preprocess the input yourself."
        )
    if suffix in IMAGE_SUFFIXES:
        if engine.card is None:
            print(
                f"edgeship predict: warning: no model card (edgeship.json) beside {engine.path}: "
                "the image goes in as raw 0-255 pixel values, resized to the input. Put the "
                "card beside the model to apply its preprocessing.",
                file=sys.stderr,
            )
        return load_input(path, engine), None
    if suffix == ".npy":
        from edgeship.samples import load_samples

        arr = load_samples(path).single
        return (normalize(arr, engine.card.preprocessing) if preprocess else arr), None
    if suffix == ".npz":
        from edgeship.samples import load_samples

        samples = load_samples(path)
        inputs = samples.inputs
        if preprocess:
            inputs = _preprocessed(inputs, engine.card)
        data = next(iter(inputs.values())) if list(inputs) == ["x"] else dict(inputs)
        return data, samples.labels
    raise ConfigError(
        f"--input {path}: unknown file type {suffix!r}. Expected .npy, .npz or an image "
        f"({', '.join(IMAGE_SUFFIXES)})."
    )


def _preprocessed(inputs: dict[str, Any], card: Any) -> dict[str, Any]:
    """The card's preprocessing applied to each array of an .npz, as to an .npy; inputs the
    card declares integer (token ids) are left as they are."""
    from edgeship.runtime.preprocess import normalize

    integer = {t.name for t in card.inputs if t.dtype.startswith(("int", "uint"))}
    return {
        key: arr if key in integer else normalize(arr, card.preprocessing)
        for key, arr in inputs.items()
    }


def run(args: argparse.Namespace) -> int:
    """Load the artifact, predict, print top-k per sample (or JSON)."""
    from edgeship.runtime import load
    from edgeship.runtime.predictions import prediction_result
    from edgeship.runtime.ranges import InputRangeWarning

    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1. Got: {args.top_k}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1. Got: {args.limit}")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always", ProviderFallbackWarning)
        engine = load(
            args.artifact,
            backend=args.backend,
            threads=args.threads,
            delegate=args.delegate,
            delegate_options=parse_key_values(args.delegate_option) or None,
            providers=parse_providers(args.provider),
            verify=False if args.no_verify else None,
            device=args.accelerator,
        )
    for warning in fallbacks:
        print(f"edgeship predict: warning: {warning.message}", file=sys.stderr)
    with engine:
        data, labels = _read_inputs(Path(args.input), engine, args.preprocess)
        if args.limit is not None:
            data = (
                {k: v[: args.limit] for k, v in data.items()}
                if isinstance(data, dict)
                else data[: args.limit]
            )
            labels = None if labels is None else labels[: args.limit]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InputRangeWarning)
            t0 = time.perf_counter()
            out = engine.predict(data, check_finite=True)
            predict_ms = (time.perf_counter() - t0) * 1000
        for warning in caught:
            print(f"edgeship predict: warning: {warning.message}", file=sys.stderr)
        total_ms = (time.perf_counter() - start) * 1000
        result, rows = prediction_result(
            engine, out, args.top_k, labels, predict_ms, total_ms, f"--input {args.input}"
        )
    if args.json:
        print_json(result)
        return 0
    where = f" ({', '.join(engine.providers)})" if engine.providers else ""
    print(
        f"{engine.path.name} on {engine.backend} {engine.backend_version}{where}: "
        f"{len(rows)} sample(s)"
    )
    for i, row in enumerate(rows[:20]):
        best = ", ".join(f"{lab} {score:.3f}" for lab, score in row)
        print(f"  [{i}] {best}")
    if len(rows) > 20:
        print(f"  ... {len(rows) - 20} more (use --json for all)")
    if "accuracy" in result:
        print(f"accuracy: {result['accuracy']:.4f}")
    print(f"predict: {predict_ms:.2f} ms, total: {result['total_ms']:.1f} ms")
    return 0
