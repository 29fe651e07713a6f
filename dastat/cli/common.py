"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads when a command runs, not when its arguments are declared
    import torch

    from ..teacher import Teacher


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def worker_count(text: str) -> int:
    """argparse type: a number of decoding processes, 0 (decode in this process) to the limit."""
    from ..data.folders import MAX_WORKERS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 0 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_WORKERS} (the limit), not {text}")
    return value


def add_teacher_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--teacher``, ``--arch``, ``--trust-checkpoint``, ``--mean`` and ``--std`` to ``parser``."""
    group = parser.add_argument_group("teacher")
    group.add_argument(
        "--teacher", metavar="SPEC", default=None,
        help="checkpoint file (RepDistiller/CRD .pth, state dict, safetensors, TorchScript), "
             "torchvision:NAME[:WEIGHTS] or timm:NAME[:WEIGHTS]; default: the bundled Fashion-MNIST resnet20",
    )
    group.add_argument("--arch", metavar="NAME", default=None,
                       help="zoo architecture of the checkpoint (default: recognised from the weights)")
    group.add_argument("--trust-checkpoint", action="store_true",
                       help="allow a fully pickled network; unpickling can run code, so only for files you trust")
    group.add_argument("--mean", metavar="M", type=finite_float, nargs="+", default=None,
                       help="per-channel input mean of the teacher (default: stored with it, else the data's)")
    group.add_argument("--std", metavar="S", type=finite_float, nargs="+", default=None,
                       help="per-channel input standard deviation of the teacher")


def teacher_from_args(args: argparse.Namespace, data: Any = None,
                      device: str | torch.device | None = None) -> Teacher:
    """The teacher that the arguments of :func:`add_teacher_arguments` describe."""
    from ..teacher import load_teacher

    return load_teacher(
        getattr(args, "teacher", None),
        arch=getattr(args, "arch", None),
        data=data,
        mean=getattr(args, "mean", None),
        std=getattr(args, "std", None),
        trust=getattr(args, "trust_checkpoint", False),
        device=device,
    )


def add_run_arguments(parser: argparse.ArgumentParser, config: Any) -> None:
    """Add ``--seed``, ``--device``, ``--batch-size``, ``--out`` and ``--no-progress``, defaults from ``config``
    (a :class:`~dastat.scoring.ScoreConfig`)."""
    parser.add_argument("--seed", type=int, default=config.seed)
    parser.add_argument("--device", default=config.device, help=f"{config.device} (default), cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=positive_int, default=config.batch_size,
                        help=f"images per batch, also the unit over which a DA shares its random draw "
                             f"(default {config.batch_size})")
    parser.add_argument("--out", metavar="FILE", help="also write the results to FILE (.json or .csv)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data``, ``--download``, ``--workers``, ``--size``, ``--resize`` and ``--base-view`` to ``parser``."""
    from ..data import BASE_VIEWS

    group = parser.add_argument_group("data")
    group.add_argument("--data", default=None, metavar="SPEC",
                       help="fashion-mnist, cifar10[:ROOT], cifar100[:ROOT], tinyimagenet:ROOT or "
                            "imagefolder:PATH[,size=N]; default: inferred from the teacher (CIFAR-100 for 100 "
                            "classes, CIFAR-10 for 10, under $DASTAT_DATA or ./data), Fashion-MNIST for the bundled one")
    group.add_argument("--download", action="store_true", help="let torchvision download a missing dataset (needs internet)")
    group.add_argument("--workers", type=worker_count, default=None, metavar="N",
                       help="processes decoding image folders (default: up to 4); does not change the numbers")
    group.add_argument("--size", type=positive_int, default=None, metavar="PIXELS",
                       help="image folders: the crop the teacher sees (default: its weights' own, else 64)")
    group.add_argument("--resize", type=positive_int, default=None, metavar="PIXELS",
                       help="image folders: the shorter side before the centre crop (default: the teacher's ratio)")
    group.add_argument("--base-view", choices=BASE_VIEWS, default=None,
                       help="the training split's base view (default: pad-crop-flip for Fashion-MNIST, CIFAR and "
                            "Tiny ImageNet, resized-crop-flip for image folders)")


def data_options_from_args(args: argparse.Namespace):
    """The :class:`~dastat.data.DataOptions` that the arguments of :func:`add_data_arguments` describe."""
    from ..data import DataOptions

    return DataOptions(download=getattr(args, "download", False), size=getattr(args, "size", None),
                       resize=getattr(args, "resize", None), base_view=getattr(args, "base_view", None),
                       workers=getattr(args, "workers", None))


def teacher_and_data_from_args(args: argparse.Namespace, device: str | torch.device | None = None):
    """``(teacher, data)`` from :func:`add_teacher_arguments` and :func:`add_data_arguments`."""
    from ..setting import resolve_teacher_and_data

    return resolve_teacher_and_data(
        getattr(args, "teacher", None), getattr(args, "data", None), options=data_options_from_args(args),
        arch=getattr(args, "arch", None), mean=getattr(args, "mean", None), std=getattr(args, "std", None),
        trust=getattr(args, "trust_checkpoint", False), device=device)
