"""``edgeship pipeline``: data or a model -> every variant, verified and measured -> a choice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeship.errors import ArtifactExistsError
from edgeship.fileio import atomic_write_json, atomic_write_text, make_dirs
from edgeship.pipeline.config import DEFAULT_VARIANTS, PipelineConfig, coerce, load_config_file
from edgeship.pipeline.recommend import Budgets, Recommendation, recommend
from edgeship.pipeline.runner import execute, log, plan

if TYPE_CHECKING:
    from edgeship.pipeline.summary import PipelineResults

__all__ = [
    "DEFAULT_VARIANTS",
    "Budgets",
    "PipelineConfig",
    "Recommendation",
    "coerce",
    "describe_plan",
    "load_config_file",
    "recommend",
    "run_pipeline",
]


def describe_plan(config: PipelineConfig) -> dict[str, Any]:
    """The resolved config and the steps it would run (for ``--dry-run``)."""
    return {
        "config": config.to_dict(),
        "steps": [
            {"step": s.name, "does": s.describe, "writes": [str(p) for p in s.outputs]}
            for s in plan(config)
        ]
        + [
            {
                "step": "report",
                "does": "report, recommendation",
                "writes": [
                    str(Path(config.out) / n) for n in ("results.json", "report.md", "report.html")
                ],
            }
        ],
    }


def run_pipeline(
    config: PipelineConfig, *, resume: bool = False, force: bool = False
) -> PipelineResults:
    """Run every step and write ``results.json``, ``report.md`` and ``report.html``.

    Args:
        config: the resolved settings.
        resume: skip steps whose outputs exist and whose inputs and settings are unchanged.
        force: allow writing into an output directory that already holds results.

    Returns:
        The results document (schema ``edgeship.pipeline/1``).
    """
    from edgeship.pipeline.report import render_html, render_markdown
    from edgeship.pipeline.summary import build_results

    out = Path(config.out)
    results_path = out / "results.json"
    if results_path.exists() and not (force or resume):
        raise ArtifactExistsError(
            f"{out} already holds a pipeline run. Pass --resume to reuse its steps or --force "
            "to run again."
        )
    start = time.perf_counter()
    planned = plan(config)  # checks the inputs before anything is written
    make_dirs(out)
    atomic_write_json(out / "config.json", config.to_file_dict())
    steps = execute(planned, out, resume_steps=resume, total=len(planned) + 1)
    log(f"step {len(planned) + 1}/{len(planned) + 1} report: results, report, recommendation")
    results = build_results(config, steps)
    results["seconds"] = time.perf_counter() - start
    atomic_write_json(results_path, results)
    atomic_write_text(out / "report.md", render_markdown(results))
    atomic_write_text(out / "report.html", render_html(results))
    log(f"done in {results['seconds']:.1f} s")
    return results
