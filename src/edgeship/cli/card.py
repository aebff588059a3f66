"""`edgeship card`: write the card, calibration and eval files for your own Keras model."""

from __future__ import annotations

import argparse
import os
from typing import Any

from edgeship.cli._common import (
    add_command,
    add_json_flag,
    add_unsafe_flag,
    from_args,
    print_json,
    square_size,
)

EXAMPLES = """\
  edgeship card my_model.keras --dataset digits --out runs/mine
  edgeship card my_model.h5 --dataset npz:data.npz --out runs/mine --json
  edgeship card saved_model_dir --dataset dir:photos --image-size 96 --out runs/mine
  edgeship card lambda_model.keras --dataset mnist --unsafe --out runs/mine   # trusted files only
  edgeship card two_inputs.keras --dataset npz:samples.npz --out runs/two  # one array per input
"""


def register(subparsers: Any) -> None:
    """Add the ``card`` command."""
    parser = add_command(
        subparsers,
        "card",
        "Write edgeship.json, calibration.npz and eval.npz for an existing .keras/.h5/"
        "SavedModel so it can be converted, verified and benchmarked.",
        EXAMPLES,
    )
    parser.add_argument("model", help=".keras or .h5 file, or SavedModel folder")
    parser.add_argument(
        "--dataset",
        default="digits",
        help="digits, mnist, npz:PATH, dir:PATH... (several inputs or token ids: npz:PATH holding "
        "one array per input name and labels 'y')",
    )
    parser.add_argument("--out", required=True, help="output directory")
    add_unsafe_flag(parser)
    parser.add_argument(
        "--input-scale",
        type=float,
        default=None,
        help="model input = raw value * SCALE (default: the dataset's scale to [0, 1])",
    )
    parser.add_argument("--image-size", type=int, default=None, help="dir: datasets: resize")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--force", action="store_true", help="replace existing files")
    add_json_flag(parser, "the card")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the files and print a summary (or the card with ``--json``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edgeship.train.owncard import CardRequest, make_card

    request = from_args(CardRequest, args, image_size=square_size(args.image_size))
    card = make_card(request)
    if args.json:
        print_json(card.to_dict())
    else:
        print(f"card:          {os.path.join(args.out, 'edgeship.json')}")
        print(f"test accuracy: {card.metrics.get('test_accuracy', float('nan')):.4f}")
    return 0
