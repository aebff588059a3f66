"""`edgeship worker`: join a device cluster with a label, for `edgeship bench --cluster`."""

from __future__ import annotations

import argparse
from typing import Any

from edgeship.cli._common import add_command

SUMMARY = "join a Dask device cluster as a labelled device for 'edgeship bench --cluster'"
EXAMPLES = """\
  dask scheduler --port 8786                                  # on any machine
  edgeship worker --cluster tcp://10.0.0.2:8786 --device pi5   # on each device
  edgeship worker --cluster tcp://10.0.0.2:8786 --device jetson --backends onnxruntime
  edgeship bench runs/m/artifacts --cluster tcp://10.0.0.2:8786 --device pi5,jetson
install on a device (no TensorFlow): pip install 'edgeship[litert,fleet]' or '[onnx,fleet]'
exits 0 when stopped (Ctrl-C, SIGTERM), 1 when it cannot reach or loses the scheduler
tls:// is refused: use a trusted network or an SSH tunnel (ssh -N -L 8786:localhost:8786 HOST)
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "worker", SUMMARY, EXAMPLES)
    parser.add_argument("--cluster", required=True, metavar="ADDRESS", help="tcp://HOST:PORT")
    parser.add_argument("--device", required=True, metavar="LABEL", help="this device's label")
    parser.add_argument(
        "--backends",
        help="backends to offer, comma-separated (default: every installed one of "
        "litert, tflite-runtime, onnxruntime)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the scheduler (default 30)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgeship.cli._common import csv_list
    from edgeship.fleet.worker import serve

    backends = tuple(csv_list(args.backends)) if args.backends else None
    return serve(args.cluster, args.device, backends, args.connect_timeout)
