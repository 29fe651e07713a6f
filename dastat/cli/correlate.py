"""``dastat correlate``: Pearson, Spearman and Kendall between two columns of a results table."""

from __future__ import annotations

import argparse
import json
import math
import sys


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "correlate": "Pearson, Spearman and Kendall of two columns, with p-values and intervals",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "correlate", help=COMMANDS["correlate"],
        description="Correlate two columns of a CSV or JSON results table (e.g. T. stddev and the student's "
                    "test loss): coefficients, two-sided p-values and seeded bootstrap intervals over pairs. "
                    "Kendall is tau-b.")
    p.add_argument("file", metavar="FILE", help="a .csv file, or a .json results file of any dastat command")
    p.add_argument("--x", required=True, metavar="COL", help="first column, e.g. t_stddev")
    p.add_argument("--y", required=True, metavar="COL", help="second column, e.g. test_loss")
    p.add_argument("--group", metavar="COL", help="one correlation per value of this column (e.g. pair_dataset)")
    p.add_argument("--where", action="append", metavar="COL=VALUE", help="keep only rows where COL equals VALUE; "
                   "repeatable")
    p.add_argument("--ci", choices=("bca", "percentile"), default="bca",
                   help="bootstrap interval: bca (bias-corrected and accelerated, default) or percentile")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--resamples", type=int, default=2000, metavar="N",
                   help="bootstrap resamples of the pairs (default 2000; 0 skips the intervals)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one record per group")
    p.add_argument("--label", metavar="COL", default="da", help="--report: the column naming each point (default da)")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write one self-contained HTML page: the scatter(s), the coefficients and the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import correlate_groups
    from .paths import check_output_file

    check_output_file(args.report, "--report", suffixes=(".html",))
    results = correlate_groups(args.file, args.x, args.y, group=args.group, where=args.where,
                               confidence_level=args.level, n_resamples=args.resamples, method=args.ci,
                               seed=args.seed)
    if args.json:
        from ..provenance import provenance, with_provenance

        record = provenance(seed=args.seed, data=args.file, x=args.x, y=args.y, ci=args.ci, level=args.level)
        print(json.dumps(with_provenance([r.to_dict() for r in results], record), indent=2))
    else:
        print(format_correlations(results, args.x, args.y))
    if args.report:
        _write_report(args, results)
    sys.stdout.flush()
    return 0


def _write_report(args: argparse.Namespace, results) -> None:
    """The HTML page: the table's rows, its scatter (one panel per group) and the coefficients."""
    from ..html_report import write_html_report
    from ..tables import read_frame

    records = read_frame(args.file, args.where).to_dict(orient="records")
    write_html_report(args.report, records, title=f"{args.y} against {args.x}: {args.file}", ranked=False,
                      bars=args.group is None, label=args.label, scatter=[(args.x, args.y)], group=args.group,
                      correlations=[r.to_dict() for r in results])


def _num(value: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}f}"


def format_correlations(results, x: str, y: str) -> str:
    """A plain-text table: per group, each coefficient with its p-value and interval."""
    from ..display import format_p, text_table

    first = results[0]
    pct = f"{100 * first.confidence_level:g}%"
    if first.n_resamples:
        how = (f"{pct} intervals: {'BCa' if first.ci_method == 'bca' else 'percentile'} bootstrap over pairs, "
               f"{first.n_resamples} resamples, seed {first.seed}")
    else:
        how = "no intervals (0 resamples)"
    header = ["group", "n"]
    for name in ("Pearson", "Spearman", "Kendall tau-b"):
        header += [name, "p", f"{pct} CI"]
    rows = []
    for r in results:
        row = ["(all rows)" if r.group is None else str(r.group), str(r.n)]
        for name in ("pearson", "spearman", "kendall"):
            lo, hi = getattr(r, f"{name}_ci")
            ci = f"[{_num(lo, 2)}, {_num(hi, 2)}]" if math.isfinite(lo) and math.isfinite(hi) else "–"
            row += [_num(getattr(r, name)), format_p(getattr(r, f"{name}_p")), ci]
        rows.append(row)
    lines = [f"{y} against {x}; two-sided p-values (Spearman's exact over all pairings up to 9 pairs); {how}.",
             text_table(header, rows, left=(0,), rule=True)]
    notes = [f"note: {'' if r.group is None else f'{r.group}: '}{r.extra['ci_note']}" for r in results
             if r.extra.get("ci_note")]
    return "\n".join(lines + notes)
