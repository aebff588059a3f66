"""`edgeship train`: train a recipe on a dataset and write the model, its card and samples."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from edgeship.cli._common import (
    add_command,
    add_json_flag,
    csv_list,
    from_args,
    print_json,
    square_size,
)
from edgeship.errors import ConfigError
from edgeship.train.backends import BACKEND_NAMES, default_backend
from edgeship.train.config import (
    DATASET_NAMES,
    RECIPE_NAMES,
    ComputePrecision,
    Strategy,
    TrainConfig,
)

EXAMPLES = """\
  edgeship train --recipe mnist-cnn --dataset digits --epochs 15 --out runs/m
  edgeship train --recipe vgg-small --dataset cifar10 --augment --mixed-precision --out runs/v
  edgeship train --recipe mobilenetv2 --dataset dir:photos --image-size 96 \\
      --weights mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5 --out runs/t
  edgeship train --backend jax --recipe mnist-cnn --out runs/j   # no TensorFlow needed
  edgeship train --backend jax --strategy mirrored --precision mixed_bfloat16 --jit --out runs/g
  edgeship train --recipe lstm --dataset digits-seq --out runs/l
  edgeship train --recipe gan --dataset digits --epochs 50 --out runs/g
  edgeship train --recipe lenet5 --dataset npz:data.npz --strategy mirrored --jit --out runs/n
  TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
              "task": {"type": "worker", "index": 0}}' \\
      edgeship train --strategy multi-worker --out runs/mw   # index 1 on host2
"""


def register(subparsers: Any) -> None:
    """Add the ``train`` command."""
    parser = add_command(
        subparsers,
        "train",
        "Train a model recipe on a dataset; write model.keras, edgeship.json, history.csv, "
        "calibration.npz and eval.npz.",
        EXAMPLES,
    )
    parser.add_argument("--recipe", default="mnist-cnn", choices=RECIPE_NAMES)
    parser.add_argument(
        "--backend",
        default=None,
        help=f"Keras backend that trains: {', '.join(BACKEND_NAMES)} "
        "(default: $KERAS_BACKEND, else tensorflow)",
    )
    parser.add_argument(
        "--dataset",
        default="digits",
        help=f"{', '.join(DATASET_NAMES)}, npz:PATH (x_train/y_train[/x_test/y_test]) "
        "or dir:PATH (one sub-folder per class). Default: digits.",
    )
    parser.add_argument("--out", default="runs/train", help="output directory")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64, help="per replica")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-split", type=float, default=0.1)
    parser.add_argument("--test-split", type=float, default=0.2)
    parser.add_argument("--max-samples", type=int, default=None, help="cap training samples")
    parser.add_argument("--augment", action="store_true", help="random rotate/shift/zoom")
    parser.add_argument(
        "--strategy",
        default="default",
        choices=[s.value for s in Strategy],
        help="mirrored: data parallel on the local devices (tensorflow, jax); multi-worker: "
        "tensorflow only",
    )
    parser.add_argument(
        "--devices", default=None, help="mirrored devices, e.g. /gpu:0,/gpu:1 (jax: cpu:0,cpu:1)"
    )
    parser.add_argument(
        "--peer-timeout",
        type=float,
        default=120.0,
        help="multi-worker: seconds to wait for the other workers (default 120)",
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="mixed_float16 (float32 output layer)"
    )
    parser.add_argument("--precision", default=None, choices=[p.value for p in ComputePrecision])
    parser.add_argument(
        "--jit", action="store_true", help="compile with XLA (tensorflow; jax always compiles)"
    )
    parser.add_argument("--patience", type=int, default=5, help="early stopping; 0 disables")
    parser.add_argument(
        "--tensorboard", action="store_true", help="log to OUT/tensorboard (needs tensorboard)"
    )
    parser.add_argument("--weights", default=None, help="mobilenetv2: local no-top weights .h5")
    parser.add_argument("--fine-tune-epochs", type=int, default=0, help="mobilenetv2")
    parser.add_argument("--alpha", type=float, default=0.35, help="mobilenetv2 width")
    parser.add_argument("--image-size", type=int, default=None, help="square resize size")
    parser.add_argument("--latent-dim", type=int, default=32, help="gan noise size")
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--force", action="store_true", help="replace an existing model")
    add_json_flag(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Build the :class:`TrainConfig` of the parsed flags."""
    if args.mixed_precision and args.precision not in (None, ComputePrecision.MIXED_FLOAT16.value):
        raise ConfigError(
            f"--mixed-precision means mixed_float16 but --precision {args.precision} was given."
        )
    precision = args.precision or (
        ComputePrecision.MIXED_FLOAT16.value
        if args.mixed_precision
        else ComputePrecision.FLOAT32.value
    )
    return from_args(
        TrainConfig,
        args,
        devices=tuple(csv_list(args.devices)) or None,
        precision=precision,
        early_stopping_patience=args.patience,
        backend=args.backend or default_backend(),
        image_size=square_size(args.image_size),
        verbose=0 if (args.quiet or args.json) else (1 if sys.stdout.isatty() else 2),
    )


def run(args: argparse.Namespace) -> int:
    """Train and report where the files are."""
    config = config_from_args(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edgeship.train import train

    result = train(config)
    summary = {
        "out": str(result.out),
        "model": str(result.model_path),
        "card": str(result.out / "edgeship.json"),
        "test_accuracy": result.test_accuracy,
        "seconds": round(result.seconds, 3),
        "epochs_run": result.card.training.get("epochs_run"),
        "seconds_per_epoch": result.card.training.get("seconds_per_epoch"),
        "chief": result.chief,
    }
    if args.json:
        print_json(summary)
    elif not result.chief:
        print(f"trained as a worker; the chief writes the model to {summary['model']}")
    else:
        acc = "n/a" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
        print(f"model:         {summary['model']}")
        print(f"card:          {summary['card']}")
        print(f"test accuracy: {acc}")
        print(f"time:          {result.seconds:.1f} s")
    return 0
