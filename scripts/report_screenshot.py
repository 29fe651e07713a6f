"""Write docs/report_1280.png: the HTML report of a real ranking as headless Chromium shows it 1280 px wide.

The ranking is benchmarks/results/protocols_fast_ranking.json (`dastat rank` of the paper's
nine DAs with a resnet8 student on the bundled Fashion-MNIST teacher), so every statistic
has a column. The window is tall enough for the verdict, the forest plot and both tables.

    python scripts/report_screenshot.py [--out docs/report_1280.png] [--height 2180]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dastat.html_report import write_html_report  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "report_1280.png"))
    parser.add_argument("--height", type=int, default=2180)
    args = parser.parse_args()
    browser = next((b for b in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if b), None)
    if browser is None:
        print("no Chromium found; install the Debian package chromium", file=sys.stderr)
        return 2
    records = json.loads((ROOT / "benchmarks" / "results" / "protocols_fast_ranking.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        page = write_html_report(Path(tmp) / "rank.html", records, title="dastat rank --student resnet8",
                                 setting={"student": "resnet8"})
        out = Path(args.out).resolve()
        subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
                        "--hide-scrollbars", f"--user-data-dir={Path(tmp) / 'profile'}",
                        f"--window-size=1280,{args.height}", f"--screenshot={out}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
