"""`edgeship report`: Markdown or self-contained HTML from bench results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeship.cli._common import add_command, add_json_flag

SUMMARY = "turn bench results into a Markdown or self-contained HTML report with plots"
EXAMPLES = """\
  edgeship report bench.json --out report.html
  edgeship report base.json arm.json --out report.md --title "x86 vs Pi 5"
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "report", SUMMARY, EXAMPLES)
    parser.add_argument("results", nargs="+", metavar="RESULTS.json", help="bench results (merged)")
    parser.add_argument("--out", required=True, help="report path: .html, .md or .csv")
    parser.add_argument("--title", default="edgeship benchmark", help="report title")
    parser.add_argument("--force", action="store_true", help="replace an existing report")
    add_json_flag(parser, "{out, rows, plots}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgeship.bench import load_results, merge_results
    from edgeship.bench import plots as plots_mod
    from edgeship.bench.report import write_report
    from edgeship.cli._common import print_json
    from edgeship.errors import ArtifactExistsError

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ArtifactExistsError(
            f"{out} already exists. Expected a new path; pass --force to replace it."
        )
    results = merge_results([load_results(p) for p in args.results])
    path = write_report(results, out, title=args.title)
    info = {
        "out": str(path),
        "rows": len(results["results"]),
        "plots": plots_mod.available() and path.suffix.lower() in (".html", ".htm"),
    }
    if args.json:
        print_json(info)
    else:
        print(f"wrote {path} ({info['rows']} rows{', with plots' if info['plots'] else ''})")
    return 0
