"""Write docs/results.md (and its figures) from finished ``dastat validate`` folders, one per teacher/student pair.

    python scripts/write_results.py DIR [DIR ...] --verdict "..."

Each folder holds what ``dastat validate`` wrote (``results.json``, ``validate.json``,
``scores.json``) and a ``run.json`` with the exact command and the compute it took
(``{"command": "...", "compute": "..."}``). The page holds, per pair, the setting, the
results table and the three coefficients with p-values; the scatter plots of T. stddev
against the students' test loss and top-1 with one panel per pair; the ranking by
T. stddev (of the first folder); and the verdict — whatever the numbers say. Nothing is
retrained: leave out --verdict to keep the one on the current page. The strength sections
that ``scripts/strength_sweep.py report --markdown`` writes are kept as they are.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from dastat.io import atomic_write_text
from dastat.plot import ranking_bars, save_figure, scatter

VERDICT = "## Where the finding holds, and where it does not"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--docs", default="docs")
    p.add_argument("--verdict", help="what the pairs show together, in plain words")
    args = p.parse_args(argv)

    docs = Path(args.docs)
    pairs = [_pair(Path(f)) for f in args.folders]
    verdict = args.verdict or _kept_verdict(docs / "results.md")
    rows = [dict(r, pair=pair["name"]) for pair in pairs for r in pair["rows"]]
    setting = {"teacher": "resnet20 (bundled)", "data": "Fashion-MNIST"}
    group = "pair" if len(pairs) > 1 else None
    for y, name in (("test_loss", "results_tstddev_vs_loss.png"), ("test_acc", "results_tstddev_vs_acc.png")):
        save_figure(scatter(rows, x="t_stddev", y=y, group=group, setting=setting), docs / name)
    first = pairs[0]["folder"] / "scores.json"
    save_figure(ranking_bars(json.loads(first.read_text()), setting=setting), docs / "results_ranking.png")

    names = " and ".join(f"`{p['config']['student']}`" for p in pairs)
    page = ["# Validation on the bundled default", "",
            "Does T. stddev, measured on the teacher alone, order the DAs the way trained students' test loss "
            f"does? Real runs on the bundled Fashion-MNIST resnet20 teacher with students {names}.", ""]
    for pair in pairs:
        page += _section(pair)
    page += ["## Both pairs", "",
             "![T. stddev against the students' test loss, one panel per pair](results_tstddev_vs_loss.png)", "",
             "![T. stddev against the students' top-1, one panel per pair](results_tstddev_vs_acc.png)", "",
             "![The nine DAs ranked by T. stddev with 95% intervals](results_ranking.png)", "",
             VERDICT, "", verdict, ""]
    strengths = _kept_strengths(docs / "results.md")
    if strengths:
        page += [strengths, ""]
    atomic_write_text(docs / "results.md", "\n".join(page))
    print("\n".join(page))
    return 0


def _pair(folder: Path) -> dict:
    results = json.loads((folder / "results.json").read_text())
    config = json.loads((folder / "validate.json").read_text())
    config = config.get("options", config)  # sweeps written before validate.json carried provenance
    run = json.loads((folder / "run.json").read_text())
    name = f"resnet20 → {config['student']}"
    rows = results["results"] if "results" in results else results["rows"]  # sweeps before the one JSON shape
    return {"folder": folder, "name": name, "rows": rows, "corr": results["correlations"],
            "config": config, "run": run}


def _section(pair: dict) -> list[str]:
    config, run = pair["config"], pair["run"]
    overrides = ", ".join(f"{k}={v}" for k, v in config["train_options"].items()) or "none"
    table = ["| DA | T. stddev [95% CI] | S. test loss (mean ± sd) | S. top-1 % (mean ± sd) | seeds |",
             "|---|---|---|---|---|"]
    for r in pair["rows"]:
        lo, hi = r["t_stddev_ci"]
        table.append(f"| {r['da']} | {r['t_stddev']:.5f} [{lo:.5f}, {hi:.5f}] | {r['test_loss']:.4f} ± "
                     f"{r['test_loss_std']:.4f} | {r['test_acc']:.2f} ± {r['test_acc_std']:.2f} | {r['n_seeds']} |")
    coeffs = ["| T. stddev vs | n | Pearson (p) | Spearman (p) | Kendall τ-b (p) |", "|---|---|---|---|---|"]
    for target, c in pair["corr"].items():
        if "error" in c:
            coeffs.append(f"| {target} | {c['n']} | {c['error']} | | |")
            continue
        coeffs.append(f"| {target} | {c['n']} | {c['pearson']:.3f} ({c['pearson_p']:.3g}) | "
                      f"{c['spearman']:.3f} ({c['spearman_p']:.3g}) | {c['kendall']:.3f} ({c['kendall_p']:.3g}) |")
    return [f"## {pair['name']}", "",
            f"- teacher: the bundled resnet20; student: {config['student']}; DAs: {', '.join(config['das'])}",
            f"- students: recipe `{config['recipe']}` with overrides {overrides}, {config['seeds']} seeds per DA; "
            f"T. stddev: fast protocol {config['score_options'] or '(defaults)'}",
            f"- command: `{run['command']}`", f"- compute: {run['compute']}",
            f"- raw tables: `{pair['folder'].as_posix()}/`", "", *table, "", *coeffs, ""]


def _kept_strengths(page: Path) -> str | None:
    """The strength sections scripts/strength_sweep.py wrote into the page, kept as they are."""
    text = page.read_text() if page.exists() else ""
    found = re.search(r"<!-- strengths: written by .*?<!-- strengths: end -->", text, re.S)
    return found.group(0) if found else None


def _kept_verdict(page: Path) -> str:
    text = page.read_text() if page.exists() else ""
    text = text.split("<!-- strengths:", 1)[0]
    found = re.search(rf"^{re.escape(VERDICT)}\n\n(.*?)\n*\Z", text, re.M | re.S)
    if not found:
        raise SystemExit("give --verdict (there is no page to keep it from)")
    return found.group(1)


if __name__ == "__main__":
    raise SystemExit(main())
