"""``dastat validate``: score DAs, train students with each, and correlate (resumable)."""

from __future__ import annotations

import argparse
import contextlib
import sys

from .common import positive_int, worker_count


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "validate": "check a ranking: score DAs, train students, correlate",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help=COMMANDS["validate"],
                       description="Score every DA, train --seeds students per DA with the trainer, write one "
                                   "results table (CSV and JSON) and print the correlations of T. stddev with the "
                                   "students' test loss and top-1. Rerunning with the same --out resumes.")
    p.add_argument("--teacher", metavar="SPEC", default=None, help="default: the bundled Fashion-MNIST resnet20")
    p.add_argument("--data", metavar="SPEC", default=None,
                   help="fashion-mnist (default), cifar10[:ROOT], cifar100[:ROOT] or imagefolder:PATH")
    p.add_argument("--student", metavar="ARCH", default="resnet8")
    p.add_argument("--da", action="append", dest="das", metavar="SPEC", help="repeatable (default: the paper's nine)")
    p.add_argument("--seeds", type=positive_int, default=2, help="students per DA (default 2)")
    p.add_argument("--recipe", choices=("quick", "paper"), default="quick")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="a new or empty folder, or one of an earlier validation with the same options (resumes it)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=worker_count, default=None, metavar="N",
                   help="processes decoding images for data read from files (imagefolder); default: the data's own")
    g = p.add_argument_group("training overrides")
    g.add_argument("--epochs", type=positive_int)
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument("--lr", type=float)
    g.add_argument("--subset", type=positive_int, metavar="N", help="train on a fixed random subset of N images")
    g.add_argument("--test-subset", type=positive_int, metavar="N")
    g.add_argument("--max-steps", type=positive_int, metavar="N")
    s = p.add_argument_group("scoring")
    s.add_argument("--protocol", choices=("fast", "paper"), default=None)
    s.add_argument("--max-images", type=positive_int, default=None)
    p.add_argument("--json", action="store_true",
                   help="print the results (table records and correlations) as JSON on stdout; logs go to stderr")
    p.add_argument("--report", metavar="FILE.html", help="also write one self-contained HTML page of the results")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars (shown only on a terminal)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..distributed import resolve_device
    from ..validate import format_correlations, validate
    from .paths import check_inputs, check_output_dir, check_output_file

    check_output_dir(args.out, "--out", markers=("validate.json",), what="the validation")
    if args.report:
        check_output_file(args.report, "--report", suffixes=(".html",))
    check_inputs(das=args.das, student=args.student)
    resolve_device(args.device)

    # With --json, stdout carries the JSON alone: the sweep's logs and epoch lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = validate(
            args.out, das=args.das, teacher=args.teacher, data=args.data, student=args.student, seeds=args.seeds,
            recipe=args.recipe, device=args.device, progress=not args.no_progress, workers=args.workers,
            train_options={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                           "subset": args.subset, "test_subset": args.test_subset, "max_steps": args.max_steps},
            score_options={"protocol": args.protocol, "max_images": args.max_images},
        )
    if args.report:
        from ..html_report import validation_report

        print(f"report: {validation_report(args.report, result.out)}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(result.to_json())
        return 0
    frame = result.to_frame()
    columns = ["da", "t_stddev", "test_loss", "test_loss_std", "test_acc", "test_acc_std", "n_seeds"]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    print(format_correlations(result.correlations))
    print(f"results: {result.out / 'results.csv'} and {result.out / 'results.json'}")
    return 0
