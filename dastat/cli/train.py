"""``dastat train``: distil the teacher into a student with one DA, to check a ranking.

Every option of a recipe can be overridden; options left out take the recipe's value
(``--recipe paper`` is the paper's §5, ``--recipe quick`` a few CPU minutes on the
bundled default). ``--resume RUN_DIR`` continues a stopped run with its stored config.
Under ``torchrun`` each process trains on its share and only rank 0 writes.
"""

from __future__ import annotations

import argparse
import sys

from .common import positive_int, worker_count


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "train": "train a student by KD with a DA (validates a ranking)",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..kd.recipes import AMP_MODES, RECIPES, SCHEDULES
    from .common import add_teacher_arguments

    p = sub.add_parser(
        "train", help=COMMANDS["train"],
        description="Distil the teacher into a student with one data augmentation, logging test top-1/top-5 "
                    "and loss per epoch, with resumable checkpoints.")
    p.add_argument("--student", metavar="NAME", default=None,
                   help="zoo architecture of the student (default resnet8), or a checkpoint to start from")
    add_teacher_arguments(p)
    p.add_argument("--data", metavar="SPEC", default=None,
                   help="fashion-mnist (default), cifar10[:ROOT] or cifar100[:ROOT]")
    p.add_argument("--da", metavar="SPEC", default=None,
                   help="the data augmentation, any spec of 'dastat augment list' (default identity)")
    p.add_argument("--recipe", choices=tuple(RECIPES), default=None, help="paper (the recipe of Wang et al., NeurIPS 2022, §5; default) or quick")
    p.add_argument("--out", metavar="DIR", default=None, help="run folder (default runs/DATE-TIME-STUDENT-DA)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the run stored in RUN_DIR")

    g = p.add_argument_group("recipe overrides (default: the recipe's value)")
    g.add_argument("--epochs", type=positive_int)
    g.add_argument("--batch-size", type=positive_int, help="images per step and per process")
    g.add_argument("--lr", type=float, help="initial learning rate")
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--schedule", choices=SCHEDULES)
    g.add_argument("--milestones", type=int, nargs="*", metavar="EPOCH", help="multistep: epochs at which lr decays")
    g.add_argument("--lr-decay", type=float, help="multistep: factor applied at each milestone")
    g.add_argument("--warmup-epochs", type=float, help="linear warm-up length, in epochs")
    g.add_argument("--temperature", type=float, help="KD temperature T")
    g.add_argument("--alpha", type=float, help="weight of the KD terms KL(orig) + KL(view)")
    g.add_argument("--gamma", type=float, help="weight of the cross-entropy on the originals")
    g.add_argument("--seed", type=int)
    g.add_argument("--subset", type=positive_int, metavar="N", help="train on a fixed random subset of N images")
    g.add_argument("--test-subset", type=positive_int, metavar="N", help="evaluate on the first N test images")
    g.add_argument("--max-steps", type=positive_int, metavar="N", help="stop after N steps in all (smoke tests)")
    g.add_argument("--amp", choices=AMP_MODES, help="mixed precision (auto: bf16 or fp16 on CUDA, off on CPU)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last memory format (default: on for CUDA)")

    r = p.add_argument_group("runtime (does not change the numbers)")
    r.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    r.add_argument("--compile", action="store_true", help="torch.compile the student and the teacher")
    r.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    r.add_argument("--workers", type=worker_count, default=None, metavar="N",
                   help="processes decoding images for data read from files (imagefolder); default: the data's own")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only on a terminal)")
    p.set_defaults(func=run)


#: CLI destinations that map one-to-one onto TrainConfig fields.
_CONFIG_ARGS = (
    "student", "teacher", "arch", "trust_checkpoint", "mean", "std", "data", "da", "epochs", "batch_size", "lr",
    "momentum", "weight_decay", "nesterov", "schedule", "milestones", "lr_decay", "warmup_epochs", "temperature",
    "alpha", "gamma", "seed", "subset", "test_subset", "max_steps", "amp", "channels_last",
)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..errors import UserError
    from ..kd import TrainingDiverged, TrainingInterrupted, train

    from ..distributed import resolve_device
    from .paths import check_inputs, check_output_dir

    check_output_dir(args.out, "--out", markers=("config.json",), what="the run")
    check_inputs(das=args.da, student=args.student)
    resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {k: getattr(args, k) for k in _CONFIG_ARGS}
    if not options["trust_checkpoint"]:
        options["trust_checkpoint"] = None  # absent, so a resume does not see it as a change
    if args.resume and args.out:
        raise UserError("pass either --out for a new run or --resume RUN_DIR, not both")
    try:
        result = train(args.out, resume=args.resume, recipe=args.recipe, device=args.device,
                       compile=args.compile, progress=not args.no_progress, command=["dastat", *sys.argv[1:]],
                       workers=args.workers, **options)
    except TrainingInterrupted as exc:
        print(f"dastat: {exc}", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        print(f"dastat: error: {exc}", file=sys.stderr)
        return 1
    if result.is_main:
        final = result.final
        print(f"done in {result.seconds:.0f} s: final top-1 {final['test_top1']:.2f} (best {result.best_top1:.2f} "
              f"at epoch {result.best_epoch}), test loss {final['test_loss']:.4f}; run folder {result.run_dir}")
    return 0
