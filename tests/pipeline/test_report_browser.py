"""The reports as a person sees them: rendered by headless Chromium in a 1,400 px window.

A script appended to a copy of each page measures, once the page has loaded, the page's
width against the window's, every figure's box and every code block's overflow, and writes
them into the DOM; ``chromium --dump-dom`` hands that DOM back. Skips when no Chromium is
installed (``make test`` installs it where apt-get can).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess

import pytest

from edgeship.bench.report import to_html
from edgeship.bench.storage import make_results
from edgeship.pipeline.report import render_html

from .test_recommend import ROWS
from .test_report import measured, results

pytest.importorskip("matplotlib")

WIDTH = 1400


def _browser() -> str | None:
    """The first Chromium on PATH that answers ``--version`` (a snap stub does not)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            probe = subprocess.run([path, "--version"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return path
    return None


BROWSER = _browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no working chromium on PATH (make test installs Debian's chromium as root)",
)

MEASURE = """<script>
window.addEventListener("load", () => {
  const page = document.documentElement;
  const box = (e) => e.getBoundingClientRect();
  const figures = [...document.querySelectorAll("figure.plot")].map((f) => {
    const img = f.querySelector("img"), r = box(img);
    return {id: f.id, left: r.left, right: r.right, width: r.width, height: r.height,
            loaded: img.complete && img.naturalWidth > 0,
            visible: getComputedStyle(f).visibility === "visible" &&
                     getComputedStyle(img).display !== "none"};
  });
  const blocks = [...document.querySelectorAll("pre")].map((e) => ({
    scroll: e.scrollWidth, client: e.clientWidth}));
  const out = document.createElement("output");
  out.id = "measured";
  out.textContent = JSON.stringify({scroll: page.scrollWidth, client: page.clientWidth,
                                    window: window.innerWidth, figures, blocks});
  document.body.appendChild(out);
});
</script>"""


def _chromium(tmp_path, *args):
    command = [
        str(BROWSER),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},1000",
        "--force-device-scale-factor=1",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def _render(page, tmp_path, name):
    """Load ``page`` at 1,400 px: what the script measured, and a screenshot of the top."""
    path = tmp_path / f"{name}.html"
    path.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", path.as_uri())
    found = re.search(r'<output id="measured">(.*?)</output>', done.stdout, re.S)
    assert found, f"chromium measured nothing (rc {done.returncode}): {done.stderr[-800:]}"
    shot = tmp_path / f"{name}.png"
    _chromium(tmp_path, f"--screenshot={shot}", path.as_uri())
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", png[16:20])[0] == WIDTH  # the IHDR width: the window's
    return json.loads(found.group(1))


def _assert_fits(seen, figure_ids):
    assert seen["window"] == WIDTH
    assert seen["client"] <= WIDTH
    assert seen["scroll"] <= seen["client"], "the page scrolls sideways"
    assert [f["id"] for f in seen["figures"]] == [f"fig-{k}" for k in figure_ids]
    for fig in seen["figures"]:
        assert fig["loaded"] and fig["visible"], fig
        assert fig["width"] > 300 and fig["height"] > 100, fig
        assert fig["left"] >= 0 and fig["right"] <= seen["client"], fig
    for block in seen["blocks"]:
        assert block["scroll"] <= block["client"], "a code block scrolls instead of wrapping"


def test_pipeline_report_fits_a_1400px_window_with_every_figure_visible(tmp_path):
    doc = results(measured())
    doc["model"]["path"] = "runs/" + "/".join(["a-very-long-folder-name-without-spaces"] * 12)
    doc["commands"] = [  # command lines longer than the window, one without any space
        "edgeship bench " + " ".join(f"runs/x/artifacts/variant-{i}.tflite" for i in range(40)),
        "edgeship convert runs/x/model.keras --to " + ",".join(["tflite-int8-float-io"] * 30),
    ]
    seen = _render(render_html(doc), tmp_path, "pipeline")
    _assert_fits(seen, ["pareto", "latency", "throughput", "size"])
    assert len(seen["blocks"]) == 1  # the Reproduce block, wrapped


def test_fleet_bench_report_keeps_its_wide_tables_inside_their_own_box(tmp_path):
    """Twelve devices with long unbreakable names: the devices-side-by-side table alone is
    far wider than the window, so it must scroll inside its box and leave the page still."""
    rows = [
        {**r, "device": f"raspberry_pi_5_cortex_a76_board_{d:02d}", "kind": "edgeship"}
        for d in range(12)
        for r in measured(ROWS[:2])
    ]
    page = to_html(make_results({}, rows), "Twelve devices")
    assert "Devices side by side" in page
    seen = _render(page, tmp_path, "fleet")
    _assert_fits(seen, ["latency", "throughput"])
