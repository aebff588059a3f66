"""The architecture zoo: 13 random-weight Keras models x all ten variants, one command.

Usage::

    .venv/bin/python benchmarks/convert_zoo.py                 # all 13, writes the README table
    .venv/bin/python benchmarks/convert_zoo.py --arch transformer,text_classifier --no-readme
    # only some variants (e.g. those a new backend reads), then the tables from both runs:
    .venv/bin/python benchmarks/convert_zoo.py --variants tflite-fp32,tflm-int8 \
        --json /tmp/zoo-tflite.json --no-readme
    .venv/bin/python benchmarks/convert_zoo.py \
        --from-json benchmarks/results/convert_zoo.json /tmp/zoo-tflite.json

Each model (tests/convert/arch_models.py: small shapes, random weights, calibration and eval
inputs saved beside it) goes through ``convert(..., variants="all")``. The table (architecture
x variant -> status, route, size, max abs error, top-1 agreement) replaces the block between
the ``convert-zoo`` markers in benchmarks/README.md; the manifests' variant records go to
benchmarks/results/convert_zoo.json. Max abs error and top-1 agreement are the parity step's
numbers (the artifact run through edgeship.runtime on the bare interpreter, against Keras).
A second table (between the ``convert-zoo-runtimes`` markers) gives, per architecture and
installed backend, how many of the variants it reads it runs in agreement with Keras within
each variant's limits (convert's ``runtimes`` check), and each refusal with its message.
Exit status 0 only when the zoo's bar holds: every fp32 variant ok within 1e-4, at least 95%
of the cells ok, and every failed cell with an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.convert.arch_models import BUILDERS  # noqa: E402

from edgeship.convert import convert, read_manifest  # noqa: E402
from edgeship.convert.variants import VARIANTS  # noqa: E402
from edgeship.errors import ParityError  # noqa: E402
from edgeship.fileio import atomic_write_json, atomic_write_text  # noqa: E402

BEGIN, END = "<!-- convert-zoo:begin -->", "<!-- convert-zoo:end -->"
RT_BEGIN, RT_END = "<!-- convert-zoo-runtimes:begin -->", "<!-- convert-zoo-runtimes:end -->"
FP32_ATOL = 1e-4
RESULTS = ROOT / "benchmarks" / "results" / "convert_zoo.json"


def run(
    arch: str, folder: Path, variants: tuple[str, ...] | str = "all"
) -> tuple[dict[str, Any], float]:
    """Build ``arch`` into ``folder`` and convert it to ``variants`` (default every one)."""
    source = BUILDERS[arch](folder / arch)
    started = time.perf_counter()
    out = folder / f"{arch}-out"
    try:
        manifest = convert(source / "model.keras", out, variants=variants)
    except ParityError:
        manifest = read_manifest(out)
    return manifest, time.perf_counter() - started


def cell(v: dict[str, Any]) -> str:
    """One table cell: status, route when not the primary, size, error, agreement."""
    parity = v.get("parity") or {}
    route = "" if not v.get("fallbacks_tried") else f" via {v.get('route')}"
    if v["status"] != "ok":
        return f"**failed**{route}"
    size = (v.get("size_bytes") or 0) / 1024
    err = parity.get("max_abs_error")
    top1 = parity.get("top1_agreement")
    top = "" if top1 is None else f", top-1 {top1:.2f}"
    return f"ok{route}, {size:.0f} KiB, {err:.1e}{top}"


def table(
    results: dict[str, tuple[dict[str, Any], float]], names: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Markdown table (one row per model, one column per variant) plus the summary numbers."""
    names = names or list(VARIANTS)
    lines = [
        "| model | " + " | ".join(names) + " | convert s |",
        "|---|" + "---|" * len(names) + "---:|",
    ]
    ok = total = 0
    fp32_bad: list[str] = []
    failures: list[str] = []
    for arch, (manifest, seconds) in results.items():
        by_name = {v["name"]: v for v in manifest["variants"]}
        row = []
        for name in names:
            v = by_name.get(name)
            if v is None:  # merged results (--from-json) where a run stopped before this one
                row.append("not run")
                continue
            total += 1
            ok += v["status"] == "ok"
            row.append(cell(v))
            err = (v.get("parity") or {}).get("max_abs_error")
            if name.endswith("fp32") and (v["status"] != "ok" or err is None or err >= FP32_ATOL):
                fp32_bad.append(f"{arch}/{name}")
            if v["status"] != "ok":
                failures.append(f"- {arch} / {name}: {' / '.join(v['errors'])[:500]}")
        lines.append(f"| {arch} | " + " | ".join(row) + f" | {seconds:.0f} |")
    summary = {"cells": total, "ok": ok, "fp32_not_ok": fp32_bad, "failures": failures}
    text = "\n".join(lines)
    text += (
        f"\n\n{ok} of {total} cells ok ({100 * ok / max(total, 1):.1f}%); fp32 variants outside "
        f"1e-4: {fp32_bad or 'none'}.\n"
    )
    if failures:
        text += "\nFailed cells and their reasons:\n\n" + "\n".join(failures) + "\n"
    return text, summary


def runtimes_table(results: dict[str, tuple[dict[str, Any], float]]) -> str:
    """Architecture x backend: of the variants built ok that the backend reads, how many it
    runs in agreement with Keras within the variant's limits (convert's ``runtimes`` check);
    then every refusal with its message."""
    backends: dict[str, None] = {}
    for manifest, _ in results.values():
        for v in manifest["variants"]:
            backends.update(dict.fromkeys(k.split(" ")[0] for k in v.get("runtimes") or {}))
    names = list(backends)
    lines = ["| architecture | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    refusals: list[str] = []
    for arch, (manifest, _) in results.items():
        row = []
        for backend in names:
            ran = agree = 0
            for v in manifest["variants"]:
                verdicts = {k.split(" ")[0]: r for k, r in (v.get("runtimes") or {}).items()}
                if backend not in verdicts:
                    continue
                ran += 1
                agree += verdicts[backend] == "ok"
                if verdicts[backend] != "ok":
                    why = verdicts[backend][:300]
                    refusals.append(f"- {arch} / {v['name']} / {backend}: {why}")
            row.append(f"{agree}/{ran}" if ran else "–")
        lines.append(f"| {arch} | " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    if refusals:
        text += "\nVariants a backend refused or disagreed on:\n\n" + "\n".join(refusals) + "\n"
    return text


def compact(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields of each variant record that the table shows, plus its errors."""
    out = []
    for v in variants:
        parity = v.get("parity") or {}
        out.append(
            {
                "name": v["name"],
                "status": v["status"],
                "route": v.get("route"),
                "fallbacks_tried": [t["route"] for t in v.get("fallbacks_tried", [])],
                "float_ops": (v.get("params") or {}).get("float_ops", []),
                "size_bytes": v.get("size_bytes"),
                "max_abs_error": parity.get("max_abs_error"),
                "top1_agreement": parity.get("top1_agreement"),
                "errors": [e[:300] for e in v["errors"]],
                "runtimes": {k: r[:300] for k, r in (v.get("runtimes") or {}).items()},
            }
        )
    return out


def expand(record: dict[str, Any]) -> dict[str, Any]:
    """A :func:`compact` record back in the shape of a manifest's variant record (the fields
    the tables read)."""
    return {
        **record,
        "fallbacks_tried": [{"route": r} for r in record.get("fallbacks_tried") or []],
        "parity": {k: record.get(k) for k in ("max_abs_error", "top1_agreement")},
        "runtimes": record.get("runtimes") or {},
    }


def add_from_json(parser: argparse.ArgumentParser) -> None:
    """``--from-json RESULTS...``: render the tables from earlier results files."""
    parser.add_argument(
        "--from-json",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="convert nothing: merge these results files (a later one's records replace an "
        "earlier one's, e.g. a --variants rerun over a full run) and write the tables",
    )


def merged(
    paths: list[Path], key: str = "architectures"
) -> tuple[dict[str, tuple[dict[str, Any], float]], list[str]]:
    """The results files ``paths`` as one: a later file's record of an architecture's variant
    replaces an earlier one's; convert seconds are the first file's (the run that converted
    the most); the variants are those any file holds, in convert's order. ``key`` names the
    files' models (``families`` in the keras.applications sweep's)."""
    archs: dict[str, dict[str, dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    for path in paths:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for arch, records in doc[key].items():
            archs.setdefault(arch, {}).update({r["name"]: r for r in records})
            seconds.setdefault(arch, doc["seconds"][arch])
    names = [v for v in VARIANTS if any(v in records for records in archs.values())]
    results = {
        arch: ({"variants": [expand(records[n]) for n in names if n in records]}, seconds[arch])
        for arch, records in archs.items()
    }
    return results, names


def write_readme(
    block: str,
    command: str,
    marks: tuple[str, str] = (BEGIN, END),
    title: str = "Architecture zoo: every variant",
) -> None:
    """Replace the block between ``marks`` in benchmarks/README.md (append it the first time)."""
    begin, end = marks
    readme = ROOT / "benchmarks" / "README.md"
    text = readme.read_text(encoding="utf-8")
    body = f"{begin}\nProduced by `{command}`.\n\n{block}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n### {title}\n\n" + body + "\n"
    atomic_write_text(readme, text)


def save(path: Path, results: dict[str, tuple[dict[str, Any], float]], variants: list[str]) -> None:
    """Write the results file: the summary, convert seconds and compact variant records."""
    atomic_write_json(
        path,
        {
            "schema": "edgeship.convert-zoo/1",
            "variants": variants,
            "summary": table(results, variants)[1],
            "seconds": {a: round(t, 1) for a, (_, t) in results.items()},
            "architectures": {a: compact(m["variants"]) for a, (m, _) in results.items()},
        },
    )


def render(paths: list[Path], out: Path, readme: bool) -> int:
    """Write the tables (and the merged results file ``out``) from earlier results files."""
    results, names = merged(paths)
    save(out, results, names)
    block, summary = table(results, names)
    runtimes = runtimes_table(results)
    print(block)
    print(runtimes)
    if readme:
        sources = " ".join(str(p) for p in paths)
        command = f"python benchmarks/convert_zoo.py --from-json {sources}"
        write_readme(block, command)
        title = "Architecture zoo: which variants each backend runs in agreement with Keras"
        write_readme(runtimes, command, (RT_BEGIN, RT_END), title)
    return 0 if not summary["fp32_not_ok"] and summary["ok"] >= 0.95 * summary["cells"] else 1


def main(argv: list[str] | None = None) -> int:
    """Run the zoo; exit 0 when the bar holds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="all", help="comma-separated names, or 'all'")
    parser.add_argument("--no-readme", action="store_true", help="do not edit the README")
    parser.add_argument(
        "--variants",
        default="all",
        help="comma-separated variants to convert, or 'all' (the tables show those run)",
    )
    parser.add_argument(
        "--json", default=str(RESULTS), help=f"results file (default {RESULTS.relative_to(ROOT)})"
    )
    add_from_json(parser)
    args = parser.parse_args(argv)
    if args.from_json:
        return render(args.from_json, Path(args.json), not args.no_readme)
    archs = list(BUILDERS) if args.arch == "all" else args.arch.split(",")
    unknown = [a for a in archs if a not in BUILDERS]
    if unknown:
        parser.error(f"unknown architecture(s) {unknown}; expected some of {list(BUILDERS)}")
    variants = tuple(VARIANTS) if args.variants == "all" else tuple(args.variants.split(","))
    if bad := [v for v in variants if v not in VARIANTS]:
        parser.error(f"unknown variant(s) {bad}; expected some of {list(VARIANTS)}")
    results: dict[str, tuple[dict[str, Any], float]] = {}
    with tempfile.TemporaryDirectory(prefix="edgeship-zoo-") as tmp:
        for arch in archs:
            results[arch] = run(arch, Path(tmp), variants)
            print(f"{arch}: {results[arch][1]:.0f} s", flush=True)
            save(Path(args.json), results, list(variants))  # after each: a stopped run keeps it
    block, summary = table(results, list(variants))
    runtimes = runtimes_table(results)
    print(block)
    print(runtimes)
    if not args.no_readme:
        write_readme(block, "python benchmarks/convert_zoo.py")
        title = "Architecture zoo: which variants each backend runs in agreement with Keras"
        write_readme(runtimes, "python benchmarks/convert_zoo.py", (RT_BEGIN, RT_END), title)
    bar = not summary["fp32_not_ok"] and summary["ok"] >= 0.95 * summary["cells"]
    return 0 if bar else 1


if __name__ == "__main__":
    sys.exit(main())
