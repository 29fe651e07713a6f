"""``dastat tune``: race a grid of DA strengths on a teacher and keep the lowest T. stddev."""

from __future__ import annotations

import argparse
import json
import sys

from .common import positive_int


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "tune": "race DA strengths, e.g. 'cutmix(alpha=0.2|0.5|1)', and keep the best",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..scoring import ScoreConfig
    from ..scoring.race import ALPHA, TOLERANCE
    from .common import add_data_arguments, add_run_arguments, add_teacher_arguments

    p = sub.add_parser("tune", help=COMMANDS["tune"],
                       description="Score every candidate of the grids on the same images, drop the ones that are "
                                   "significantly worse at a fixed schedule of looks, and report the best.")
    add_teacher_arguments(p)
    add_data_arguments(p)
    p.add_argument("--da", action="append", required=True, metavar="GRID", dest="das",
                   help="a DA spec whose values may list alternatives with |, e.g. 'cutmix(alpha=0.2|0.5|1|2)'; "
                        "repeatable, all candidates race together")
    d = ScoreConfig()  # the defaults, said once
    p.add_argument("--max-images", type=positive_int, default=d.max_images,
                   help=f"at most this many training images per candidate (default {d.max_images})")
    p.add_argument("--draws", type=positive_int, default=d.draws,
                   help="draws on each batch for DAs that draw once per batch or mix pairs, as for dastat rank "
                        f"(default {d.draws})")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"stop when every live candidate is within this relative T. stddev of the best "
                        f"(default {TOLERANCE})")
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help=f"probability of dropping a truly best candidate, over all looks (default {ALPHA})")
    add_run_arguments(p, d)
    p.add_argument("--json", action="store_true", help="print the results as JSON (with their provenance)")
    p.set_defaults(func=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    from ..distributed import init_from_env, resolve_device
    from ..provenance import provenance
    from ..scoring.tune import race_plan, tune
    from .common import teacher_and_data_from_args
    from .paths import check_inputs, check_output_file

    check_output_file(args.out, "--out", suffixes=(".json", ".csv"))
    options = dict(max_images=args.max_images, batch_size=args.batch_size, draws=args.draws)
    candidates, _ = race_plan(args.das, None, options, args.alpha, args.tolerance)
    check_inputs(das=candidates)
    device = resolve_device(args.device)
    with init_from_env(device):
        teacher, data = teacher_and_data_from_args(args, device)
        result = tune(args.das, teacher, data, alpha=args.alpha, tolerance=args.tolerance, max_images=args.max_images,
                      draws=args.draws, batch_size=args.batch_size, seed=args.seed, device=device,
                      progress=not args.no_progress)
        _refuse_no_evidence(result)
        record = provenance(device=device, seed=args.seed, batch_size=args.batch_size,
                            protocol={"name": "race", **result.settings}, teacher=teacher, data=data)
        _emit(result, args, record)
    return 0


def _refuse_no_evidence(result) -> None:
    """A race in which no candidate got a T. stddev has no answer: one sentence and exit 2, nothing printed
    or written as if it were a result."""
    from ..errors import UserError

    if any(r["t_stddev"] is not None for r in result.records) or str(result.settings.get("stopped") or "").startswith(
            "degenerate"):
        return
    raise UserError(f"no candidate got a T. stddev: {result.settings['images']:,} images each are too few for an "
                    f"estimate with --max-images {result.settings['max_images']:,}; raise --max-images")


def _table(result) -> str:
    from ..display import text_table

    header = ["candidate", "T. stddev", "95% CI", "status", "eliminated after", "forwards"]
    num = lambda v: "–" if v is None else f"{v:.5f}"  # noqa: E731
    rows = [[r["candidate"], num(r["t_stddev"]), f"[{num(r['t_stddev_ci'][0])}, {num(r['t_stddev_ci'][1])}]",
             r["status"], "–" if r["eliminated_after"] is None else f"{r['eliminated_after']:,}",
             f"{r['n_forward']:,}"] for r in result.records]
    return text_table(header, rows, left=(0, 3), rule=True)


def _emit(result, args: argparse.Namespace, record: dict) -> None:
    from ..distributed import is_main_process
    from ..io import atomic_write_text
    from ..provenance import with_provenance, write_csv_sidecar

    if not is_main_process():
        return
    doc = with_provenance(result.to_records(), record, total_forward=result.total_forward,
                          full_scoring_forward=result.full_scoring_forward)
    if args.out and args.out.lower().endswith(".csv"):
        atomic_write_text(args.out, result.to_frame().to_csv(index=False))
        write_csv_sidecar(args.out, record)
    elif args.out:
        atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(_table(result))
        for line in summary(result):
            print(line)
    sys.stdout.flush()


def summary(result) -> list[str]:
    """The lines under the race's table: the best (or why there is none), how the race ended, what it cost,
    and what the result does not say by itself (a best at the grid's edge, a budget too small to race)."""
    s = result.settings
    full, total = result.full_scoring_forward, result.total_forward
    if result.best is not None:
        head = f"best: {result.best}"
    elif str(s.get("stopped") or "").startswith("degenerate"):
        head = "no best: the teacher's outputs carry no information (see the warning)"
    else:
        head = (f"no best: no candidate has a T. stddev ({s['images']:,} images each are too few for an estimate); "
                "raise --max-images")
    lines = [f"{head}; stopped: {s['stopped']} ({len(s['looks_images'])} looks; Holm over {s['candidates']} "
             f"candidates at alpha {s['alpha']:g}). {total:,} model forwards; scoring every candidate to "
             f"--max-images would take {full:,} ({full / total:.1f}×)."]
    if s.get("edge"):
        lines.append(f"best at the grid's edge: extend the grid ({'; '.join(s['edge'])}), since a value beyond it "
                     "may be better still")
    small = s.get("too_small_to_race")
    if small:
        lines.append(f"budget too small to race: {small['forwards']:,} forwards (--max-images "
                     f"{small['max_images']:,}) would race this grid; with --max-images {s['max_images']:,} the race "
                     "looked once, at the budget, so it saved no forwards")
    elif s.get("undecided", 0) > 1:
        more = (f"about --max-images {s['decide_max_images']:,} would decide them" if s.get("decide_max_images")
                else "a larger --max-images may tell them apart")
        lines.append(f"the budget cut the race short: {s['undecided']} candidates are neither dropped nor tied "
                     f"within {s['tolerance']:g}; {more}")
    return lines
