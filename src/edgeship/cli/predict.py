"""`edgeship predict`: run an artifact on an input file and print the top classes."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from edgeship.cli._common import add_command, csv_list, print_json
from edgeship.errors import ConfigError

EXAMPLES = """\
  edgeship predict artifacts/tflite-int8.tflite --input digit.png
  edgeship predict artifacts/tflite-fp32.tflite --input eval.npz --top-k 3 --json
  edgeship predict artifacts/onnx-fp32.onnx --input batch.npy --provider cpu --threads 2
  edgeship predict model.tflite --input x.npy --delegate edgetpu
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
    parser.add_argument(
        "--backend", default="auto", help="auto|litert|tflite-runtime|tf-lite|onnxruntime"
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--delegate", default=None, help="TFLite delegate: edgetpu, gpu or a path")
    parser.add_argument(
        "--provider", default=None, help="ONNX Runtime providers, comma-separated (e.g. cuda,cpu)"
    )
    parser.add_argument("--top-k", type=int, default=5, help="classes to show per sample")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    parser.add_argument(
        "--preprocess", action="store_true", help="apply the card's preprocessing to .npy input"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the child-process check of untrusted files"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
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
        data = next(iter(inputs.values())) if list(inputs) == ["x"] else dict(inputs)
        return data, samples.labels
    raise ConfigError(
        f"--input {path}: unknown file type {suffix!r}. Expected .npy, .npz or an image "
        f"({', '.join(IMAGE_SUFFIXES)})."
    )


def run(args: argparse.Namespace) -> int:
    """Load the artifact, predict, print top-k per sample (or JSON)."""
    import numpy as np

    from edgeship.runtime import load
    from edgeship.runtime.preprocess import output_step, top_k
    from edgeship.runtime.ranges import InputRangeWarning

    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1. Got: {args.top_k}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1. Got: {args.limit}")
    start = time.perf_counter()
    engine = load(
        args.artifact,
        backend=args.backend,
        threads=args.threads,
        delegate=args.delegate,
        providers=csv_list(args.provider) or None,
        verify=False if args.no_verify else None,
    )
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
        first = out if isinstance(out, np.ndarray) else next(iter(out.values()))
        card = engine.card
        names = card.labels if card is not None else None
        step = output_step(engine.outputs)
        rows = [top_k(sample, names, args.top_k, step) for sample in first]
        result = {
            "artifact": str(engine.path),
            "format": engine.format,
            "backend": engine.backend,
            "backend_version": engine.backend_version,
            "samples": len(rows),
            "outputs": {
                k: list(v.shape)
                for k, v in (
                    out.items() if isinstance(out, dict) else [(engine.outputs[0].name, out)]
                )
            },
            "predictions": [
                {"top": [{"label": lab, "score": round(score, 6)} for lab, score in row]}
                | ({"label": str(labels[i])} if labels is not None else {})
                for i, row in enumerate(rows)
            ],
            "predict_ms": round(predict_ms, 3),
            "total_ms": round((time.perf_counter() - start) * 1000, 3),
        }
        if labels is not None and rows:
            from edgeship.samples import check_label_range

            classes = int(first.shape[-1]) if first.ndim >= 2 else 1
            check_label_range(labels, classes, f"--input {args.input}")
            names = names if names is not None and len(names) == classes else None
            hits = [
                row[0][0] == (names[int(y)] if names else str(int(y)))
                for row, y in zip(rows, labels, strict=False)
            ]
            result["accuracy"] = round(sum(hits) / len(hits), 6)
    if args.json:
        print_json(result)
        return 0
    print(f"{engine.path.name} on {engine.backend} {engine.backend_version}: {len(rows)} sample(s)")
    for i, row in enumerate(rows[:20]):
        best = ", ".join(f"{lab} {score:.3f}" for lab, score in row)
        print(f"  [{i}] {best}")
    if len(rows) > 20:
        print(f"  ... {len(rows) - 20} more (use --json for all)")
    if "accuracy" in result:
        print(f"accuracy: {result['accuracy']:.4f}")
    print(f"predict: {predict_ms:.2f} ms, total: {result['total_ms']:.1f} ms")
    return 0
