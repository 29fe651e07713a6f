"""docs/protocols.md quotes the saved benchmark results, not numbers typed by hand."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_protocols", REPO / "benchmarks" / "bench_protocols.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_protocols_page_is_rendered_from_the_saved_results():
    bench = _bench()
    summary = json.loads((REPO / "benchmarks" / "results" / "protocols.json").read_text())
    page = (REPO / "docs" / "protocols.md").read_text()
    section = page.split(bench.BEGIN, 1)[1].split(bench.END, 1)[0].strip()
    assert section == bench.render(summary).strip()
    # the saved summary agrees with the saved fast ranking it summarises
    saved = (REPO / "benchmarks" / "results" / "protocols_fast_ranking.json").read_text()
    fast = {r["da"]: r for r in json.loads(saved)}
    for row in summary["rows"]:
        assert row["fast"] == fast[row["da"]]["t_stddev"] and row["fast_forwards"] == fast[row["da"]]["n_forward"]
    assert f"{summary['fast_total_forwards']:,}" in section
    # numbers outside the generated section that restate it would go stale: there are none
    outside = page.replace(section, "")
    assert not re.search(r"\d{3},\d{3}|\d+\.\d×", outside)
