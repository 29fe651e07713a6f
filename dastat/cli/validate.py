"""``dastat validate``: score DAs, train students with each, and correlate (resumable)."""

from __future__ import annotations

import argparse

from .common import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a ranking: score DAs, train students, correlate",
                       description="Score every DA, train --seeds students per DA with the trainer, write one "
                                   "results table (CSV and JSON) and print the correlations of T. stddev with the "
                                   "students' test loss and top-1. Rerunning with the same --out resumes.")
    p.add_argument("--teacher", metavar="SPEC", default=None, help="default: the bundled Fashion-MNIST resnet20")
    p.add_argument("--data", metavar="SPEC", default=None)
    p.add_argument("--student", metavar="ARCH", default="resnet8")
    p.add_argument("--da", action="append", dest="das", metavar="SPEC", help="repeatable (default: the paper's nine)")
    p.add_argument("--seeds", type=positive_int, default=2, help="students per DA (default 2)")
    p.add_argument("--recipe", choices=("quick", "paper"), default="quick")
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument("--device", default="auto")
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
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..distributed import resolve_device
    from ..validate import format_correlations, validate
    from .paths import check_inputs, check_output_dir, name_the_flag

    check_output_dir(args.out, "--out", markers=("validate.json",), what="the validation")
    check_inputs(das=args.das, student=args.student)
    resolve_device(args.device)

    with name_the_flag(teacher=args.teacher, data=args.data, student=args.student):
        result = validate(
            args.out, das=args.das, teacher=args.teacher, data=args.data, student=args.student, seeds=args.seeds,
            recipe=args.recipe, device=args.device, progress=not args.no_progress,
            train_options={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "subset": args.subset,
                           "test_subset": args.test_subset, "max_steps": args.max_steps},
            score_options={"protocol": args.protocol, "max_images": args.max_images},
        )
    frame = result.to_frame()
    columns = ["da", "t_stddev", "test_loss", "test_loss_std", "test_acc", "test_acc_std", "n_seeds"]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    print(format_correlations(result.correlations))
    print(f"results: {result.out / 'results.csv'} and {result.out / 'results.json'}")
    return 0
