"""docs/calibration.md is rendered from the saved benchmark results, and the prose that quotes them agrees."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "docs" / "calibration.md"


def _bench(name: str):
    sys.path.insert(0, str(REPO / "benchmarks"))  # bench_tail_coverage imports bench_calibration
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return module


def _section(page: str, bench) -> str:
    return page.split(bench.BEGIN, 1)[1].split(bench.END, 1)[0].strip()


def test_the_synthetic_calibration_table_is_rendered_from_its_results():
    bench = _bench("bench_calibration")
    saved = json.loads((RESULTS / "calibration.json").read_text())
    assert PAGE.read_text().startswith(bench.render(saved["estimators"], saved["nulls"], saved["meta"]).rstrip("\n"))


def test_the_real_teacher_section_is_rendered_from_its_results_and_recomputes_from_its_runs():
    bench = _bench("bench_exact_target")
    summary = json.loads((RESULTS / "exact_target.json").read_text())
    assert _section(PAGE.read_text(), bench) == bench.render(summary).strip()
    for da, row in summary["rows"].items():
        runs = summary["runs"][da]
        assert len(runs) == row["fast_runs"] == summary["seeds"]
        relative = [r["t_stddev"] / row["target"] - 1 for r in runs]
        assert math.isclose(sum(relative) / len(relative), row["fast_bias"], rel_tol=1e-9)
        inside = [r["ci"][0] <= row["target"] <= r["ci"][1] for r in runs]
        assert math.isclose(sum(inside) / len(inside), row["fast_coverage"])
    paper = {r["da"]: r for r in json.loads((RESULTS / "exact_target_paper.json").read_text())["records"]}
    for da, row in summary["rows"].items():
        assert row["paper"] == paper[da]["t_stddev"] and row["paper_units"] == paper[da]["n_units"]


def test_the_heavy_tail_section_is_rendered_from_its_results_and_quoted_right():
    bench = _bench("bench_tail_coverage")
    summary = json.loads((RESULTS / "tail_coverage.json").read_text())
    assert _section(PAGE.read_text(), bench) == bench.render(summary).strip()
    rows = {r["blocks"]: r for r in summary["rows"]}
    scoring = (REPO / "docs" / "scoring.md").read_text()
    quoted = [rows[204]["dastat"], rows[512]["dastat"], rows[4096]["dastat"], rows[204]["jackknife t"],
              rows[512]["jackknife t"], rows[4096]["jackknife t"]]
    for cell in quoted:
        assert f"{100 * cell['coverage']:.1f}%" in scoring


def test_the_lowest_coverage_quoted_is_the_split_estimates_under_a_heavy_tail():
    saved = json.loads((RESULTS / "calibration.json").read_text())["estimators"]
    at_stop = [r for r in saved if r["at"] == "stop"]
    lowest = min(at_stop, key=lambda r: r["coverage"])
    assert (lowest["kind"], lowest["estimator"]) == ("shift_lognormal", "split")
    quote = f"{100 * lowest['coverage']:.1f}% ± {100 * lowest['coverage_se']:.1f}%"
    assert quote in (REPO / "docs" / "scoring.md").read_text() and quote in (REPO / "README.md").read_text()
