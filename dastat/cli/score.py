"""``dastat score`` and ``dastat rank``: T. stddev of data augmentations on a teacher."""

from __future__ import annotations

import argparse
import json
import sys

from typing import TYPE_CHECKING

from .common import positive_int

if TYPE_CHECKING:
    from ..scoring import Ranking


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "score": "T. stddev of one or more DAs on a teacher (lower is better)",
    "rank": "rank DAs by T. stddev (default: the paper's nine)",
}


def _add_arguments(p: argparse.ArgumentParser, *, da_required: bool) -> None:
    from ..scoring import PROTOCOLS, ScoreConfig
    from .common import add_data_arguments, add_run_arguments, add_teacher_arguments

    d = ScoreConfig()  # the defaults, said once
    add_teacher_arguments(p)
    add_data_arguments(p)
    p.add_argument("--da", action="append", required=da_required, metavar="SPEC", dest="das",
                   help="a data augmentation spec, e.g. cutmix, 'cutout(size=8)', crop_flip+mixup; repeatable"
                   + ("" if da_required else " (default: the paper's nine)"))
    p.add_argument("--protocol", choices=PROTOCOLS, default=d.protocol,
                   help=f"fast: sample-efficient estimator with a 95%% interval; paper: the paper's procedure "
                        f"(default {d.protocol})")
    p.add_argument("--epochs", type=positive_int, default=d.epochs,
                   help=f"passes over the training split (paper protocol; default {d.epochs})")
    p.add_argument("--precision", type=float, default=d.precision,
                   help=f"fast protocol: stop when the interval's relative half-width is at most this (default {d.precision})")
    p.add_argument("--max-images", type=positive_int, default=d.max_images,
                   help=f"fast protocol: at most this many training images per DA (default {d.max_images})")
    p.add_argument("--draws", type=positive_int, default=d.draws,
                   help="fast protocol: draws on each batch for DAs that draw once per batch or mix pairs, whose "
                   f"image and draw variance are then estimated apart; 1 = a fresh batch per draw (default {d.draws})")
    p.add_argument("--student", metavar="SPEC", help="a student checkpoint, or a zoo name for a fresh seeded student")
    add_run_arguments(p, d)
    p.add_argument("--json", action="store_true", help="print the results as JSON (with their provenance) instead of a table")
    p.add_argument("--report", metavar="FILE", help="also write a human-readable report: FILE.md (Markdown) or "
                   "FILE.html (one self-contained page with the figures)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help=COMMANDS["score"],
                       description="Measure T. stddev of the given DAs on a teacher, before any training.")
    _add_arguments(p, da_required=True)
    p.set_defaults(func=run, ranked=False)
    p = sub.add_parser("rank", help=COMMANDS["rank"],
                       description="Score DAs on the same images and rank them, lowest T. stddev first.")
    _add_arguments(p, da_required=False)
    from ..scoring import ScoreConfig
    from ..stats.columns import RANKABLE

    p.add_argument("--by", choices=RANKABLE, default=ScoreConfig.by,
                   help=f"the statistic to rank by (default {ScoreConfig.by}; ce_* need --student, *_t are teacher-only)")
    p.set_defaults(func=run, ranked=True)


def _common(args: argparse.Namespace, device) -> dict:
    from ..scoring import ScoreConfig, load_student
    from .common import teacher_and_data_from_args

    teacher, data = teacher_and_data_from_args(args, device)
    student = load_student(args.student, data, seed=args.seed, device=device, trust=args.trust_checkpoint)
    config = ScoreConfig(protocol=args.protocol, epochs=args.epochs, precision=args.precision,
                         max_images=args.max_images, draws=args.draws, batch_size=args.batch_size, seed=args.seed,
                         device=device, progress=not args.no_progress, by=getattr(args, "by", ScoreConfig.by))
    return dict(teacher=teacher, data=data, student=student, config=config)


def _check(args: argparse.Namespace):
    """Output paths and the device, before any data or model is loaded."""
    from ..distributed import resolve_device
    from .paths import check_inputs, check_output_file

    check_output_file(args.report, "--report", suffixes=(".md", ".html"))
    check_output_file(args.out, "--out", suffixes=(".json", ".csv"))
    check_inputs(das=args.das, student=args.student)
    return resolve_device(args.device)


def _provenance(common: dict) -> dict:
    from ..provenance import provenance

    config = common["config"]
    protocol = {"name": config.protocol, **({"epochs": config.epochs} if config.protocol == "paper"
                                             else {"precision": config.precision, "max_images": config.max_images,
                                                   "draws": config.draws})}
    return provenance(device=config.device, seed=config.seed, batch_size=config.batch_size, protocol=protocol,
                      teacher=common["teacher"], data=common["data"], student=common["student"])


def run(args: argparse.Namespace) -> int:
    """``dastat score`` (each DA on its own) or ``dastat rank`` (on the same images, ranked)."""
    from ..distributed import init_from_env
    from ..scoring import measure, rank

    device = _check(args)
    with init_from_env(device):
        common = _common(args, device)
        results = (rank if args.ranked else measure)(args.das, **common)
        _emit(results, args, ranked=args.ranked, record=_provenance(common))
    return 0


def _emit(results: Ranking, args: argparse.Namespace, *, ranked: bool, record: dict) -> None:
    from ..distributed import is_main_process
    from ..io import atomic_write_text
    from ..provenance import with_provenance, write_csv_sidecar
    from ..budget import notes
    from ..report import format_table, markdown_report, summary_line

    if not is_main_process():
        return
    if args.report and args.report.lower().endswith(".html"):
        from ..html_report import write_html_report

        write_html_report(args.report, results.to_records(), ranked=ranked, title=f"dastat {args.command}",
                          provenance=record, notes=notes(results))
    elif args.report:
        atomic_write_text(args.report, markdown_report(results, ranked=ranked, provenance=record))
    if args.out and args.out.lower().endswith(".csv"):
        atomic_write_text(args.out, results.to_frame().to_csv(index=False))
        write_csv_sidecar(args.out, record)
    more = {"left_out": results.left_out} if results.left_out else {}
    doc = with_provenance(results.to_records(), record, **more)
    if args.out and not args.out.lower().endswith(".csv"):
        atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(summary_line(results))
        print(format_table(results, ranked=ranked))
        for note in notes(results):
            print(f"note: {note}")
        if ranked:
            print(f"{results.total_forward:,} model forwards in all (the DAs share the originals; picking by "
                  f"the student counts its forwards too), {results.seconds:.0f} s.")
    sys.stdout.flush()
