"""``dastat evaluate``: a teacher's test-split accuracy, loss and calibration, to check a download."""

from __future__ import annotations

import argparse

from .common import positive_int


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "evaluate": "top-1, top-5, loss and calibration (ECE) of a teacher on the test split",
}


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_data_arguments, add_teacher_arguments

    p = sub.add_parser("evaluate", help=COMMANDS["evaluate"],
                       description="Evaluate a teacher on its data's test split: top-1 and top-5 accuracy, mean "
                                   "cross-entropy and expected calibration error (15 equal-width bins).")
    add_teacher_arguments(p)
    add_data_arguments(p)
    p.add_argument("--max-images", type=positive_int, default=None, metavar="N",
                   help="evaluate on a random subset of N test images (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=int, default=0, help="the subset's seed")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", metavar="FILE.json", help="also write the JSON result to FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..distributed import resolve_device
    from ..evaluation import evaluate
    from ..io import atomic_write_text
    from .common import data_options_from_args
    from .paths import check_output_file

    check_output_file(args.out, "--out", suffixes=(".json",))
    resolve_device(args.device)
    result = evaluate(args.teacher, args.data, max_images=args.max_images, batch_size=args.batch_size,
                      device=args.device, seed=args.seed, options=data_options_from_args(args), arch=args.arch,
                      mean=args.mean, std=args.std, trust=args.trust_checkpoint)
    if args.out:
        atomic_write_text(args.out, result.to_json() + "\n")
    if args.json:
        print(result.to_json())
        return 0
    inputs = result.inputs
    print(f"teacher  {result.teacher}")
    print(f"data     {result.data}: {result.n_images:,} test images at {inputs.get('resolution')} px")
    recorded = "" if result.recorded_top1 is None else \
        f"  (the checkpoint records {100 * result.recorded_top1:.2f}% as {result.recorded_key!r})"
    print(f"top-1    {100 * result.top1:6.2f}%{recorded}")
    print(f"top-5    {100 * result.top5:6.2f}%")
    print(f"loss     {result.loss:8.4f}  (mean cross-entropy)")
    print(f"ECE      {result.ece:8.4f}  (15 equal-width bins)")
    return 0
