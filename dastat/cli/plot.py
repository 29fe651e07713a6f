"""``dastat plot``: figures from saved results (no model needed).

With ``--y``: the paper's scatter of ``--x`` (default ``t_stddev``) against ``--y``, one
labelled point per DA, optionally one panel per ``--group``. Without ``--y``: a ranking
(``dastat rank --json``) as horizontal bars, best first, ranked by ``--by``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "plot": "draw a results table (scatter with --y) or a ranking (bars) to PNG, SVG or PDF",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help=COMMANDS["plot"],
        description="Draw saved results. With --y: y against x, one labelled point per DA, error bars, a "
                    "least-squares line and Pearson/Spearman/Kendall (tau-b) with p-values in the legend. "
                    "Without --y: the ranking that 'dastat rank --json' wrote, as bars with intervals, best first.")
    p.add_argument("file", metavar="FILE", help="a .csv file, or a .json results file of any dastat command")
    p.add_argument("--x", metavar="COL", help="scatter: the x column (default t_stddev)")
    p.add_argument("--y", metavar="COL", help="scatter: the y column, e.g. test_loss or test_acc")
    p.add_argument("--by", metavar="COL", help="ranking: the column to rank by (default t_stddev; lowest first)")
    p.add_argument("--label", metavar="COL", default="da", help="the column naming each DA (default da)")
    p.add_argument("--group", metavar="COL", help="scatter: one panel per value of this column (e.g. pair_dataset)")
    p.add_argument("--where", action="append", metavar="COL=VALUE",
                   help="keep only rows where COL equals VALUE; repeatable")
    p.add_argument("--title", help="the figure's title")
    p.add_argument("--json", action="store_true", help='print {"written": [FILE]} as JSON instead of a sentence')
    p.add_argument("--out", metavar="FILE",
                   help="the image to write, .png, .svg or .pdf (default: next to FILE, named after the plot)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..plot import FORMATS, ranking_bars, save_figure, scatter
    from .paths import check_output_file

    if args.out and Path(args.out).suffix.lower() not in FORMATS:
        raise UserError(f"--out must end in {', '.join(FORMATS)}, not {args.out!r}")
    check_output_file(args.out, "--out")
    stem = Path(args.file).with_suffix("")
    if args.y:
        if args.by:
            raise UserError("--by ranks bars and --y draws a scatter; give one of them")
        x = args.x or "t_stddev"
        fig = scatter(args.file, x=x, y=args.y, label=args.label, group=args.group, where=args.where,
                      title=args.title)
        out = args.out or f"{stem}_{args.y}_vs_{x}.png"
    else:
        if args.x or args.group:
            raise UserError("--x and --group belong to a scatter, which needs --y as well")
        fig = ranking_bars(args.file, by=args.by or "t_stddev", label=args.label, where=args.where,
                           title=args.title)
        out = args.out or f"{stem}_ranking.png"
    written = save_figure(fig, out)
    print(json.dumps({"written": [str(written)]}) if args.json else f"wrote {written}")
    return 0
