"""The HTML report in a real browser: headless Chromium at 1280 px, no horizontal scrolling, every figure shown.

Each page gets a small probe script (the report itself has none) that, once the page and
its images have loaded, measures the document's scroll width, each element's box and
each image's decoded size, and writes them into the DOM; ``chromium --dump-dom`` prints
that DOM. `make test` installs the Debian package ``chromium`` when it is missing; the
test skips, saying so, only where no Chromium can be found.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dastat.cli import main
from dastat.html_report import validation_report, write_html_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WIDTH = 1280

_PROBE = """<script>
addEventListener("load", () => {
  const W = innerWidth, out = {innerWidth: W, scrollWidth: document.documentElement.scrollWidth,
                              images: [], overflowing: []};
  for (const img of document.images) {
    const r = img.getBoundingClientRect();
    out.images.push({alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
                     left: r.left, right: r.right, width: r.width, height: r.height});
  }
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect(), clips = getComputedStyle(el).overflowX !== "visible";
    if (r.right > W + 0.5 || r.left < -0.5 || (clips && el.scrollWidth > el.clientWidth + 1))
      out.overflowing.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
  }
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed and could not be: `make test` installs the Debian package "
                "'chromium' (apt-get install chromium); without it the report cannot be checked in a browser")


def _flags(tmp: Path) -> list[str]:
    # No sandbox: the tests may run as root in a container; the profile folder keeps runs apart.
    return ["--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={tmp / 'profile'}", f"--window-size={WIDTH},900", "--virtual-time-budget=10000"]


def measure(page: Path, tmp: Path) -> dict:
    """The probe's measurements of ``page`` as Chromium lays it out in a 1280-px-wide window."""
    probed = tmp / f"probed-{page.name}"
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html  # the report has no script of its own: the probe is ours
    probed.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run([_chromium(), *_flags(tmp), "--dump-dom", probed.as_uri()], capture_output=True,
                          text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium printed no measurements (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def _assert_fits(result: dict, figures: int) -> None:
    assert result["innerWidth"] == WIDTH  # the window is the one the test claims to check
    assert result["scrollWidth"] <= WIDTH, f"the page scrolls sideways: {result['scrollWidth']} px"
    assert not result["overflowing"], result["overflowing"]
    assert len(result["images"]) == figures
    for img in result["images"]:
        assert img["complete"] and img["naturalWidth"] > 0, f"figure not decoded: {img['alt']}"
        assert img["width"] >= 300 and img["height"] >= 100, img
        assert 0 <= img["left"] and img["right"] <= WIDTH, f"figure cut off: {img}"


def test_probe_detects_overflow(tmp_path):
    """The measurement can fail: a table wider than the window and a broken image are both caught."""
    page = tmp_path / "wide.html"
    page.write_text('<!DOCTYPE html><html><body><table><tr><td style="min-width:2000px">x</td></tr></table>'
                    '<img alt="broken" src="data:image/png;base64,AAAA"></body></html>', encoding="utf-8")
    result = measure(page, tmp_path)
    assert result["scrollWidth"] > WIDTH and any(o.startswith("td") for o in result["overflowing"])
    assert result["images"][0]["naturalWidth"] == 0


def test_rank_report_fits_1280(tmp_path):
    """The widest report: the paper's nine DAs with a student, so every statistic has a column."""
    records = json.loads((RESULTS / "protocols_fast_ranking.json").read_text())
    assert len(records) == 9 and all(r.get("ce_cov") is not None for r in records[:-1])
    prov = {"command": "dastat rank --student resnet8 --report rank.html", "seed": 0,
            "data_root": "/data/" + "a-long-folder-name-without-spaces" * 12, "packages": {"torch": "2.14.1"}}
    page = write_html_report(tmp_path / "rank.html", records, title="dastat rank", provenance=prov)
    _assert_fits(measure(page, tmp_path), figures=1)


def test_validation_report_fits_1280(tmp_path):
    page = validation_report(tmp_path / "validate.html", RESULTS / "validate_fmnist")
    _assert_fits(measure(page, tmp_path), figures=3)  # the forest plot and two scatters


def test_correlate_report_fits_1280(tmp_path, reference_dir, capsys):
    page = tmp_path / "paper.html"
    assert main(["correlate", str(reference_dir / "paper_tstddev_vs_stestloss.csv"), "--x", "T_stddev", "--y",
                 "S_test_loss", "--group", "pair_dataset", "--label", "DA", "--resamples", "0",
                 "--report", str(page)]) == 0
    _assert_fits(measure(page, tmp_path), figures=1)
