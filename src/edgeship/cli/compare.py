"""`edgeship compare`: deltas between two bench results, failing on regressions."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgeship.cli._common import add_command, add_json_flag

SUMMARY = "compare two bench results; non-zero exit on a regression beyond noise and threshold"
EXAMPLES = """\
  edgeship compare base.json new.json
  edgeship compare base.json new.json --fail-on p50:5%,accuracy:-0.5
  edgeship compare base.json new.json --fail-on p99:10%,throughput_ips:-10% --json
  edgeship compare fleet.json fleet.json --base-device pi5 --new-device jetson
thresholds: METRIC:VALUE[%]; positive fails on a rise (latency), negative on a drop
(throughput, accuracy in percentage points); a change must also leave the noise band.
A --fail-on metric missing from either file (accuracy needs bench --eval) fails the run.
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "compare", SUMMARY, EXAMPLES)
    parser.add_argument("base", metavar="BASE.json")
    parser.add_argument("new", metavar="NEW.json")
    parser.add_argument("--fail-on", metavar="EXPR", help="e.g. p50:5%%,accuracy:-0.5")
    parser.add_argument(
        "--metrics",
        default="p50,p90,p99,throughput_ips,accuracy",
        help="metrics to show (default p50,p90,p99,throughput_ips,accuracy)",
    )
    parser.add_argument(
        "--base-device", metavar="LABEL", help="fleet results: compare only this device of BASE"
    )
    parser.add_argument(
        "--new-device", metavar="LABEL", help="fleet results: compare only this device of NEW"
    )
    add_json_flag(parser, "the comparison")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgeship.bench import load_results
    from edgeship.bench.compare import METRICS, compare, label, parse_fail_on, to_markdown
    from edgeship.cli._common import csv_list, print_json
    from edgeship.errors import ConfigError

    thresholds = parse_fail_on(args.fail_on)
    metrics = tuple(csv_list(args.metrics))
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"Unknown metrics {unknown}. Expected some of: {', '.join(METRICS)}.")
    result = compare(
        load_results(args.base),
        load_results(args.new),
        thresholds,
        metrics,
        base_device=args.base_device,
        new_device=args.new_device,
    )
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(to_markdown(result))
    if not result["rows"]:
        print("edgeship compare: warning: no configuration appears in both files", file=sys.stderr)
    for r in result["regressions"]:
        print(
            f"edgeship compare: regression: {label(r['key'])} {r['metric']} "
            f"{r['base']:.4g} -> {r['new']:.4g} breaks {r['threshold']}",
            file=sys.stderr,
        )
    for u in result["unchecked"]:
        print(f"edgeship compare: error: cannot check --fail-on: {u['message']}", file=sys.stderr)
    for w in result["unresolved"]:
        print(f"edgeship compare: warning: unresolved: {w['message']}", file=sys.stderr)
    if thresholds and not result["rows"]:
        print("edgeship compare: error: --fail-on checked nothing", file=sys.stderr)
    failed = result["regressions"] or result["unchecked"] or (thresholds and not result["rows"])
    return 1 if failed else 0
