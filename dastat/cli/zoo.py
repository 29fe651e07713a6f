"""``dastat zoo``: list the architectures of the zoo, and inspect a teacher file.

    dastat zoo list
    dastat zoo inspect save/models/resnet56_vanilla/ckpt_epoch_240.pth
"""

from __future__ import annotations

import argparse
import json

from .common import positive_int


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "zoo": "list the model zoo; inspect a teacher checkpoint",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help=COMMANDS["zoo"],
                                   description="List the model zoo, or describe a teacher checkpoint.")
    sub = parser.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)

    lister = sub.add_parser("list", help="architectures and their parameter counts")
    lister.add_argument("--num-classes", type=positive_int, default=100, help="classes to count parameters for (default 100)")
    lister.add_argument("--json", action="store_true", help="print JSON instead of a table")
    lister.set_defaults(func=run_list)

    inspector = sub.add_parser("inspect", help="detected format, architecture, classes, extra entries of a file")
    inspector.add_argument("file", metavar="FILE", help="a checkpoint file, or any --teacher spec")
    inspector.add_argument("--trust-checkpoint", action="store_true",
                           help="allow a fully pickled network; unpickling can run code, so only for files you trust")
    inspector.add_argument("--json", action="store_true", help="print JSON instead of text")
    inspector.set_defaults(func=run_inspect)


def run_list(args: argparse.Namespace) -> int:
    from .. import models

    rows = [(name, models.num_params(name, num_classes=args.num_classes)) for name in models.list_models()]
    if args.json:
        print(json.dumps([{"arch": name, "params": n} for name, n in rows], indent=2))
        return 0
    width = max(len(name) for name, _ in rows)
    print(f"{'architecture':<{width}}  {'parameters':>11}   ({args.num_classes} classes)")
    for name, n in rows:
        print(f"{name:<{width}}  {n:>11,}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from ..teacher import inspect_checkpoint

    info = inspect_checkpoint(args.file, trust=args.trust_checkpoint)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    lines = [
        ("file", info["source"]),
        ("format", info["format"] + (f", keys prefixed {info['stripped_prefix']!r}" if "stripped_prefix" in info
                                     else "")),
        ("architecture", info["arch"] or "unknown"),
        ("classes", info["num_classes"]),
        ("input channels", info["in_channels"]),
        ("parameters", f"{info['params']:,}"),
    ]
    if info["mean"] is not None:
        lines.append(("normalisation", f"mean {_floats(info['mean'])}, std {_floats(info['std'])}"))
    lines += [(key, _value(value)) for key, value in info["extras"].items()]
    if info["ignored"]:
        lines.append(("ignored entries", ", ".join(info["ignored"])))
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key + ':':<{width + 1}} {value}")
    return 0


def _floats(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _value(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
