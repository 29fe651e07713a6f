"""Write docs/results.md (and its figures) from a finished ``dastat validate`` folder.

    python scripts/write_results.py VALIDATE_DIR --command "dastat validate ..." --wall-minutes 52 --verdict "..."

The page holds the results table, the ranking by T. stddev, the scatter plots of T. stddev
against the students' test loss and top-1, the three coefficients with p-values, the exact
command and the compute it took — whatever the numbers say. Nothing is retrained: to
redraw the page from the saved results, leave out --command, --wall-minutes and --verdict
and the ones on the current page are kept.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from pathlib import Path

from dastat.io import atomic_write_text
from dastat.plot import ranking_bars, save_figure, scatter


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--command")
    p.add_argument("--wall-minutes", type=float)
    p.add_argument("--machine", default=f"{platform.machine()} Linux, 2 CPU cores, no GPU")
    p.add_argument("--docs", default="docs")
    p.add_argument("--verdict", help="one paragraph: does this setting reproduce the paper's finding?")
    args = p.parse_args(argv)

    folder, docs = Path(args.folder), Path(args.docs)
    results = json.loads((folder / "results.json").read_text())
    config = json.loads((folder / "validate.json").read_text())
    rows, corr = results["rows"], results["correlations"]
    command, compute, verdict = _kept(args, docs / "results.md")
    setting = {"teacher": config["teacher"] or "resnet20 (bundled)", "data": config["data"] or "Fashion-MNIST",
               "student": config["student"], "recipe": config["recipe"], "seeds": config["seeds"]}
    for y, name in (("test_loss", "results_tstddev_vs_loss.png"), ("test_acc", "results_tstddev_vs_acc.png")):
        save_figure(scatter(rows, x="t_stddev", y=y, setting=setting), docs / name)
    scores = folder / "scores.json"
    ranking = json.loads(scores.read_text()) if scores.exists() else rows
    save_figure(ranking_bars(ranking, setting={"teacher": setting["teacher"], "data": setting["data"]}),
                docs / "results_ranking.png")

    table = ["| DA | T. stddev [95% CI] | S. test loss (mean ± sd) | S. top-1 % (mean ± sd) | seeds |",
             "|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["t_stddev_ci"]
        table.append(f"| {r['da']} | {r['t_stddev']:.5f} [{lo:.5f}, {hi:.5f}] | {r['test_loss']:.4f} ± "
                     f"{r['test_loss_std']:.4f} | {r['test_acc']:.2f} ± {r['test_acc_std']:.2f} | {r['n_seeds']} |")
    coeffs = ["| T. stddev vs | n | Pearson (p) | Spearman (p) | Kendall τ-b (p) |", "|---|---|---|---|---|"]
    for target, c in corr.items():
        if "error" in c:
            coeffs.append(f"| {target} | {c['n']} | {c['error']} | | |")
            continue
        coeffs.append(f"| {target} | {c['n']} | {c['pearson']:.3f} ({c['pearson_p']:.3g}) | "
                      f"{c['spearman']:.3f} ({c['spearman_p']:.3g}) | {c['kendall']:.3f} ({c['kendall_p']:.3g}) |")
    page = [
        "# Validation on the bundled default", "",
        "Does T. stddev, measured on the teacher alone, order the DAs the way trained students' test loss does? "
        "One real run on the bundled Fashion-MNIST resnet20 teacher.", "",
        "## Setting", "",
        f"- teacher: the bundled resnet20; student: {config['student']}; DAs: {', '.join(config['das'])}",
        f"- students: recipe `{config['recipe']}` with overrides {config['train_options'] or 'none'}, "
        f"{config['seeds']} seeds per DA; T. stddev: fast protocol {config['score_options'] or '(defaults)'}",
        f"- command: `{command}`",
        f"- compute: {compute}", "",
        "## Results", "", *table, "",
        "![The nine DAs ranked by T. stddev with 95% intervals](results_ranking.png)", "",
        "![T. stddev against the students' test loss](results_tstddev_vs_loss.png)", "",
        *coeffs, "",
        "![T. stddev against the students' top-1](results_tstddev_vs_acc.png)", "",
        "## Does this setting reproduce the paper's finding?", "", verdict, "",
    ]
    atomic_write_text(docs / "results.md", "\n".join(page))
    print("\n".join(page))
    return 0


def _kept(args: argparse.Namespace, page: Path) -> tuple[str, str, str]:
    """The command, the compute line and the verdict: from the arguments, else from the current page."""
    text = page.read_text() if page.exists() else ""
    old = {"command": re.search(r"^- command: `(.*)`$", text, re.M),
           "compute": re.search(r"^- compute: (.*)$", text, re.M),
           "verdict": re.search(r"^## Does this setting reproduce the paper's finding\?\n\n(.*?)\n*\Z", text,
                                re.M | re.S)}
    compute = (f"{args.wall_minutes:.0f} minutes wall on {args.machine}" if args.wall_minutes is not None
               else old["compute"] and old["compute"].group(1))
    command = args.command or (old["command"] and old["command"].group(1))
    verdict = args.verdict or (old["verdict"] and old["verdict"].group(1))
    if not (command and compute and verdict):
        raise SystemExit("give --command, --wall-minutes and --verdict (there is no page to keep them from)")
    return command, compute, verdict


if __name__ == "__main__":
    raise SystemExit(main())
