"""Write docs/results.md (and its scatter plot) from a finished ``dastat validate`` folder.

    python scripts/write_results.py VALIDATE_DIR --command "dastat validate ..." --wall-minutes 52

The page holds the results table, the scatter plot of T. stddev against the students'
test loss, the three coefficients with p-values, the exact command and the compute it
took — whatever the numbers say.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from dastat.io import atomic_write_text
from dastat.plot import save_figure, scatter


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--command", required=True)
    p.add_argument("--wall-minutes", type=float, required=True)
    p.add_argument("--machine", default=f"{platform.machine()} Linux, 2 CPU cores, no GPU")
    p.add_argument("--docs", default="docs")
    p.add_argument("--verdict", required=True, help="one paragraph: does this setting reproduce the paper's finding?")
    args = p.parse_args(argv)

    folder, docs = Path(args.folder), Path(args.docs)
    results = json.loads((folder / "results.json").read_text())
    config = json.loads((folder / "validate.json").read_text())
    rows, corr = results["rows"], results["correlations"]
    for y, name in (("test_loss", "results_tstddev_vs_loss.png"), ("test_acc", "results_tstddev_vs_acc.png")):
        save_figure(scatter(rows, x="t_stddev", y=y), docs / name)

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
        f"- command: `{args.command}`",
        f"- compute: {args.wall_minutes:.0f} minutes wall on {args.machine}", "",
        "## Results", "", *table, "",
        "![T. stddev against the students' test loss](results_tstddev_vs_loss.png)", "",
        *coeffs, "",
        "![T. stddev against the students' top-1](results_tstddev_vs_acc.png)", "",
        "## Does this setting reproduce the paper's finding?", "", args.verdict, "",
    ]
    atomic_write_text(docs / "results.md", "\n".join(page))
    print("\n".join(page))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
