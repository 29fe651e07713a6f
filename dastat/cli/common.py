"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from ..teacher import Teacher, load_teacher


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
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
    group.add_argument("--mean", metavar="M", type=float, nargs="+", default=None,
                       help="per-channel input mean of the teacher (default: stored with it, else the data's)")
    group.add_argument("--std", metavar="S", type=float, nargs="+", default=None,
                       help="per-channel input standard deviation of the teacher")


def teacher_from_args(args: argparse.Namespace, data: Any = None,
                      device: str | torch.device | None = None) -> Teacher:
    """The teacher that the arguments of :func:`add_teacher_arguments` describe."""
    return load_teacher(
        getattr(args, "teacher", None),
        arch=getattr(args, "arch", None),
        data=data,
        mean=getattr(args, "mean", None),
        std=getattr(args, "std", None),
        trust=getattr(args, "trust_checkpoint", False),
        device=device,
    )
