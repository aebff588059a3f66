"""Targeted mutation testing of edgeship's load-bearing lines (``make mutants``).

Each mutant is one exact source snippet and its replacement, with the tests that cover it.
The source tree is copied once to a temporary folder; each mutant is applied there alone (the
working tree is never edited), the named tests run with ``pytest -x`` and a mutant that leaves
them green *survived*. A snippet that is missing or occurs more than once stops the run before
anything is tested, so the list cannot silently go stale.

Usage::

    python scripts/mutants.py            # every mutant
    python scripts/mutants.py --list     # the list, nothing run
    python scripts/mutants.py -k parity  # mutants whose file or label contains "parity"

Exit status 0 when no mutant survived (and none errored), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("src", "tests", "pyproject.toml")
TIMEOUT_S = 900
#: tests/conftest.py keeps the digits model and its converted variants in this folder.
REUSE_ENV = "EDGESHIP_TEST_REUSE"


@dataclass(frozen=True)
class Mutant:
    """One mutation: in ``file``, ``snippet`` (exactly once) becomes ``replacement``."""

    file: str
    snippet: str
    replacement: str
    tests: tuple[str, ...]

    @property
    def label(self) -> str:
        line = self.snippet.strip().splitlines()[0]
        return f"{self.file.removeprefix('src/edgeship/')}: {line[:60]}"


def _group(file: str, tests: tuple[str, ...], *pairs: tuple[str, str]) -> list[Mutant]:
    return [Mutant(file, old, new, tests) for old, new in pairs]


PARITY_TESTS = ("tests/convert/test_parity.py", "tests/convert/test_parity_gates.py")
STATS_TESTS = ("tests/bench/test_stats.py",)
TIMER_TESTS = ("tests/bench/test_timer.py",)
COMPARE_TESTS = ("tests/bench/test_compare.py", "tests/bench/test_repeats.py")
REPEAT_TESTS = ("tests/bench/test_repeats.py",)
SHAPE_TESTS = ("tests/convert/test_input_shapes.py",)
QUANT_TESTS = ("tests/runtime/test_quant.py",)
VERDICT_TESTS = ("tests/runtime/test_verdict_trust.py", "tests/runtime/test_verdicts.py")
MANIFEST_TESTS = ("tests/runtime/test_verify.py",)
STAGING_TESTS = ("tests/convert/test_staging.py",)
INPUT_TESTS = ("tests/runtime/test_input_checks.py", "tests/runtime/test_errors.py")
SERVE_CHECK_TESTS = ("tests/serve/test_request_checks.py", "tests/serve/test_bad_input.py")
BODY_TESTS = ("tests/serve/test_request_checks.py", "tests/serve/test_http_stack.py")
AUTH_TESTS = ("tests/serve/test_request_checks.py", "tests/serve/test_auth_tls.py")

MUTANTS: list[Mutant] = [
    *_group(
        "src/edgeship/convert/parity.py",
        PARITY_TESTS,
        ('if out["max_abs_error"] > limit:', 'if out["max_abs_error"] > limit * 100:'),
        ('if out["max_abs_error"] > limit:', 'if out["max_abs_error"] >= limit:'),
        (
            'limit = tolerance.atol + tolerance.rtol * out["reference_max_abs"]',
            'limit = tolerance.atol + tolerance.rtol * 2 * out["reference_max_abs"]',
        ),
        (
            'and out["cosine"] < tolerance.min_cosine:',
            'and out["cosine"] < tolerance.min_cosine - 1.0:',
        ),
        ('and out["cosine"] < tolerance.min_cosine:', 'and out["cosine"] <= tolerance.min_cosine:'),
        (
            "and agree < tolerance.min_top1_agreement",
            "and agree < tolerance.min_top1_agreement - 0.01",
        ),
        ("and agree < tolerance.min_top1_agreement", "and agree <= tolerance.min_top1_agreement"),
        ("-delta > max_accuracy_drop:", "-delta > max_accuracy_drop + 10:"),
        ("-delta > max_accuracy_drop:", "-delta >= max_accuracy_drop:"),
        ("-delta > max_accuracy_drop:", "abs(delta) > max_accuracy_drop:"),
        ('gate = result.get("accuracy_delta") is None', "gate = False"),
        ("reasons: list[str] = list(exceeded) if gate else []", "reasons: list[str] = []"),
        ("            if error > limit:", "            if error > limit * 100:"),
        (
            'tolerance.unlabeled_rtol * out["reference_max_abs"]',
            'tolerance.unlabeled_rtol * 2 * out["reference_max_abs"]',
        ),
        (
            "and cosine < tolerance.unlabeled_min_cosine:",
            "and cosine < tolerance.unlabeled_min_cosine - 1.0:",
        ),
        (
            "and cosine < tolerance.unlabeled_min_cosine:",
            "and cosine <= tolerance.unlabeled_min_cosine:",
        ),
        ("finite = bool(np.isfinite(got64).all())", "finite = True"),
        ('reasons.append(f"output {name!r} holds NaN or Inf")', "pass"),
        ("reasons.append(f\"output {name!r}: {out['error']}\")", "pass"),
        ("if np.shape(got64) != ref64.shape:", "if False:"),
        ("float(np.abs(ref64).max()) if ref64.size", "float(ref64.max()) if ref64.size"),
        (
            "acc = metrics.accuracy(candidate[first_scores], y)",
            "acc = metrics.accuracy(reference[first_scores], y)",
        ),
    ),
    *_group(
        "src/edgeship/runtime/quant.py",
        QUANT_TESTS,
        ("q += np.float32(zero_point)", "q -= np.float32(zero_point)"),
        ("np.rint(np.asarray(x, dtype=np.float32)", "np.floor(np.asarray(x, dtype=np.float32)"),
        ("np.clip(q, lo, hi, out=q)", "q = q"),
        ("if np.isnan(q.sum()):", "if False:"),
        ("out -= np.float32(zero_point)", "out += np.float32(zero_point)"),
        ("out *= np.float32(scale)", "out /= np.float32(scale)"),
        ("if mn < lo or mx > hi:", "if mn < lo:"),
        ("not np.all(np.isfinite(x) & (x == np.rint(x)))", "not np.all(np.isfinite(x))"),
    ),
    *_group(
        "src/edgeship/runtime/verify.py",
        MANIFEST_TESTS,
        ("if actual != record.sha256:", "if False:"),
        ("actual = hashlib.sha256(data).hexdigest()", "actual = record.sha256"),
    ),
    *_group(
        "src/edgeship/runtime/verdicts.py",
        VERDICT_TESTS,
        ("return st.st_uid == os.getuid() and not st.st_mode & 0o022", "return True"),
        (
            "return st.st_uid == os.getuid() and not st.st_mode & 0o022",
            "return st.st_uid == os.getuid()",
        ),
        (
            "return st.st_uid == os.getuid() and not st.st_mode & 0o022",
            "return not st.st_mode & 0o022",
        ),
        ('or doc.get("ok") is not True:', "or False:"),
        ("return all(doc.get(k) == v for k, v in key.as_dict().items())", "return True"),
        ('text = "\\0".join((SCHEMA, *self))', 'text = "\\0".join((SCHEMA, *self[:2]))'),
    ),
    *_group(
        "src/edgeship/convert/staging.py",
        STAGING_TESTS,
        ("if is_convert_output(entry.name) or (staging / entry.name).exists():", "if True:"),
        ("    _stop_if_signalled()\n    out = _real(out)", "    out = _real(out)"),
        ("shutil.rmtree(staging, ignore_errors=True)  # now holds the old folder", "pass"),
    ),
    *_group(
        "src/edgeship/bench/stats.py",
        STATS_TESTS,
        ("h = (len(ordered) - 1) * q", "h = len(ordered) * q"),
        ("hi = min(lo + 1, len(ordered) - 1)", "hi = lo"),
        ("return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])", "return ordered[lo]"),
        ("for v in values) / (len(values) - 1))", "for v in values) / len(values))"),
        (
            'return float(summary.get("cv", 0.0)) > limit',
            'return float(summary.get("cv", 0.0)) >= limit',
        ),
        ("return math.sqrt(math.pi / 2) * sigma / math.sqrt(n)", "return sigma / math.sqrt(n)"),
    ),
    *_group(
        "src/edgeship/bench/timer.py",
        TIMER_TESTS,
        (
            "return runs >= rule.min_runs and elapsed_ns >= min_ns",
            "return runs >= rule.min_runs or elapsed_ns >= min_ns",
        ),
        (
            "return runs >= rule.min_runs and elapsed_ns >= min_ns",
            "return runs > rule.min_runs and elapsed_ns >= min_ns",
        ),
        ("and runs >= rule.max_runs:", "and runs > rule.max_runs:"),
        (
            "if cap_ns is not None and elapsed_ns >= cap_ns:",
            "if cap_ns is not None and elapsed_ns > cap_ns:",
        ),
        (
            "while len(durations) < rule.warmup_runs or clock() - start < limit:",
            "while len(durations) < rule.warmup_runs and clock() - start < limit:",
        ),
    ),
    *_group(
        "src/edgeship/bench/compare.py",
        COMPARE_TESTS,
        ('"beyond_noise": abs(delta) > band,', '"beyond_noise": True,'),
        ('"beyond_noise": abs(delta) > band,', '"beyond_noise": abs(delta) >= band,'),
        (
            "return math.hypot(spread(base), spread(new), drift_ms(base), drift_ms(new))",
            "return math.hypot(spread(base), spread(new))",
        ),
        (
            "return math.hypot(spread(base), spread(new), drift_ms(base), drift_ms(new))",
            "return spread(new)",
        ),
        ('if metric == "p50" and row.get("repeats"):', "if False:"),
        ('return m["band"] >= limit', 'return m["band"] >= limit * 10'),
        ("return rel * (metric_value(base, metric) or 0.0)", "return rel"),
        (
            "return MAD_TO_SIGMA * float(mad or 0.0) or float(std or 0.0)",
            "return float(mad or 0.0) or float(std or 0.0)",
        ),
        (
            "return change > t.limit if t.limit > 0 else change < t.limit",
            "return change >= t.limit if t.limit > 0 else change <= t.limit",
        ),
        (
            "return change > t.limit if t.limit > 0 else change < t.limit",
            "return change > t.limit * 2 if t.limit > 0 else change < t.limit * 2",
        ),
        ('if change is None or not m["beyond_noise"]:', "if change is None:"),
        ("return float(value) * 100.0  # percentage points", "return float(value)"),
    ),
    *_group(
        "src/edgeship/bench/repeats.py",
        REPEAT_TESTS,
        (
            'merged["noisy"] = spread > HIGH_DRIFT_PCT',
            'merged["noisy"] = spread > HIGH_DRIFT_PCT * 2',
        ),
        (
            'if not repeats or repeats["spread_pct"] <= HIGH_DRIFT_PCT:',
            'if not repeats or repeats["spread_pct"] <= HIGH_DRIFT_PCT * 2:',
        ),
        ('return float(repeats["p50_min_ms"])', 'return float(max(repeats["p50_ms"]))'),
        ("min_seconds=rule.min_seconds / repeats,", "min_seconds=rule.min_seconds,"),
    ),
    *_group(
        "src/edgeship/convert/input_shapes.py",
        SHAPE_TESTS,
        ("if not match or not all(0 < d <= MAX_DIM for d in dims):", "if not match:"),
        ("d is not None and d != s for d, s in", "False and d != s for d, s in"),
        ("if len(shape) != len(tensor.shape) or any(", "if any("),
    ),
    *_group(
        "src/edgeship/runtime/_inputs.py",
        INPUT_TESTS,
        (
            "if arr.ndim != len(want) or not _fits(arr.shape[1:], want[1:]):",
            "if arr.ndim != len(want):",
        ),
        ("if arr.ndim and arr.shape[0] == 0:", "if False:"),
        ('if check_finite and kind == "f" and not np.isfinite(arr).all():', "if False:"),
        ('if kind == "b" or target.kind == "b":', "if False:"),
        ("if kind not in _NUMERIC:", "if False:"),
    ),
    *_group(
        "src/edgeship/serve/tensors.py",
        SERVE_CHECK_TESTS,
        ("if arr.dtype not in check.dtypes:", "if False:"),
        (
            "if len(shape) != check.rank or 0 in shape or any(",
            "if len(shape) != check.rank or any(",
        ),
        (
            '        if arr.dtype.kind == "f" and not np.isfinite(arr).all():\n            raise',
            "        if False:\n            raise",
        ),
        ("if int(arr.min()) < info.min or int(arr.max()) > info.max:", "if False:"),
    ),
    *_group(
        "src/edgeship/serve/asgi.py",
        BODY_TESTS,
        ("if length > limit:", "if length > limit * 2:"),
        ("if length > limit:", "if length >= limit:"),
    ),
    *_group(
        "src/edgeship/serve/app.py",
        BODY_TESTS,
        ("if len(data) > self.max_body_bytes:", "if len(data) > self.max_body_bytes + 1:"),
        ("if len(data) > self.max_body_bytes:", "if False:"),
        (
            "inflater.decompress(request.body, self.max_body_bytes + 1)",
            "inflater.decompress(request.body)",
        ),
    ),
    *_group(
        "src/edgeship/serve/auth.py",
        AUTH_TESTS,
        ('if scheme.lower() != "bearer" or not given.strip():', "if not given.strip():"),
        ("if not hmac.compare_digest(", "if False and not hmac.compare_digest("),
        (
            "if self._token is None or request.path in OPEN_PATHS:",
            'if self._token is None or request.path.startswith("/v2/"):',
        ),
        ("if len(token) < MIN_TOKEN_CHARS or any", "if len(token) < 1 or any"),
    ),
]


def _check_snippets(mutants: list[Mutant]) -> None:
    problems = []
    for m in mutants:
        count = (ROOT / m.file).read_text(encoding="utf-8").count(m.snippet)
        if count != 1:
            problems.append(f"{m.file}: snippet found {count} times (expected once): {m.snippet!r}")
        problems += [f"{m.file}: no test file {t}" for t in m.tests if not (ROOT / t).is_file()]
    if problems:
        sys.exit("The mutant list is stale:\n  " + "\n  ".join(problems))


def _pytest(tree: Path, tests: tuple[str, ...]) -> int:
    """Run ``tests`` on the copy ``tree``; pytest's exit status (-1 on timeout)."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), PYTHONDONTWRITEBYTECODE="1")
    env[REUSE_ENV] = str(tree / ".reuse")  # the digits model and its variants, built once
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        run = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1
    return run.returncode


def _run(tree: Path, m: Mutant) -> tuple[str, float]:
    path = tree / m.file
    pristine = (ROOT / m.file).read_text(encoding="utf-8")
    path.write_text(pristine.replace(m.snippet, m.replacement), encoding="utf-8")
    started = time.perf_counter()
    try:
        rc = _pytest(tree, m.tests)
    finally:
        path.write_text(pristine, encoding="utf-8")
    outcome = {0: "SURVIVED", 1: "killed", -1: "killed (timeout)"}.get(rc, f"error (exit {rc})")
    return outcome, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="only", default="", help="only mutants whose label has this")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only in m.label]
    _check_snippets(MUTANTS)
    if args.list:
        for m in chosen:
            print(f"{m.label}  ->  {m.replacement.strip().splitlines()[0][:60]}")
        print(f"{len(chosen)} mutants")
        return 0
    survived, errors = [], []
    with tempfile.TemporaryDirectory(prefix="edgeship-mutants-") as tmp:
        tree = Path(tmp)
        for name in COPIED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, tree / name)
        # The parity tests unmutated must pass; this also builds the digits model and its
        # variants once, with the real code, for every later run (EDGESHIP_TEST_REUSE).
        if any(m.tests == PARITY_TESTS for m in chosen):
            if _pytest(tree, PARITY_TESTS) != 0:
                sys.exit(f"The tests fail without any mutant: {' '.join(PARITY_TESTS)}")
            print("baseline: the parity tests pass unmutated", flush=True)
        for i, m in enumerate(chosen, 1):
            outcome, seconds = _run(tree, m)
            print(f"[{i}/{len(chosen)}] {outcome:<9} {seconds:6.1f}s  {m.label}  ->  "
                  f"{m.replacement.strip().splitlines()[0][:50]}", flush=True)  # fmt: skip
            if outcome == "SURVIVED":
                survived.append(m)
            elif outcome.startswith("error"):
                errors.append(m)
    killed = len(chosen) - len(survived) - len(errors)
    print(f"\nmutants tried: {len(chosen)}, killed: {killed}, survived: {len(survived)}, "
          f"errors: {len(errors)}")  # fmt: skip
    for m in survived:
        print(f"  SURVIVED {m.label}  ->  {m.replacement.strip()[:60]}")
    return 0 if not survived and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
