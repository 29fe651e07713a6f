"""``dastat augment list`` and ``dastat augment preview``: see the DAs before trusting a number.

``list`` prints every registered DA with its parameters, their defaults and what it
does (``--json`` for a machine-readable list). ``preview`` draws original/augmented
pairs from a dataset and writes a PNG grid: under each view, the teacher's top class
and entropy, and under each augmented view what the DA did, read from its recorded
params and soft labels (λ or the kept area, the partner's class, the label shares,
and for a picking DA which view of the pool was kept and its score).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError

#: The most image pairs one preview figure shows.
MAX_PREVIEW_IMAGES = 64

#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "augment": "list the data augmentations, or preview one on real images",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("augment", help=COMMANDS["augment"],
                       description="Inspect the data augmentations dastat knows.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    lp = actions.add_parser("list", help="every DA with its parameters and defaults",
                            description="Print every registered DA, its parameters with defaults, and what it does.")
    lp.add_argument("--json", action="store_true",
                    help="print a JSON list: name, description, parameters with defaults, and the DA's flags")
    lp.set_defaults(func=run_list)

    pp = actions.add_parser("preview", help="a PNG grid of original/augmented pairs with the teacher's view of each",
                            description="Draw images, apply a DA, and show the teacher's top class and entropy "
                                        "under the original and the augmented view, and what the DA did.")
    pp.add_argument("spec", metavar="SPEC", help="a DA spec, e.g. cutmix, 'randaugment(num_ops=2,magnitude=9)'")
    pp.add_argument("--data", default=None, metavar="SPEC", help="dataset spec (default: fashion-mnist)")
    from .common import add_teacher_arguments

    add_teacher_arguments(pp)
    pp.add_argument("--out", required=True, metavar="FILE", help="the PNG to write")
    pp.add_argument("--images", type=int, default=8, metavar="N", help="how many pairs (default 8)")
    pp.add_argument("--seed", type=int, default=0, help="seed of the image choice and the DA's draws")
    pp.set_defaults(func=run_preview)


def run_list(args: argparse.Namespace) -> int:
    from ..augment import PAPER_DAS, describe

    if args.json:
        entries = [{**e.as_dict(), "paper": e.name in PAPER_DAS} for e in describe()]
        print(json.dumps(entries, indent=2, default=repr))
        return 0
    for e in describe():
        mark = "*" if e.name in PAPER_DAS else " "
        print(f"{mark} {e.signature()}\n      {e.summary}")
    print("\n* the paper's nine. Compose with '+', e.g. crop_flip+cutmix; per_sample=True draws per image.")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    import torch

    from ..augment import create
    from ..augment.registry import check
    from ..data import load_data
    from ..plot import preview_figure
    from .common import teacher_from_args
    from ..errors import blaming
    from .paths import check_output_file

    if not 1 <= args.images <= MAX_PREVIEW_IMAGES:
        raise UserError(f"--images must be between 1 and {MAX_PREVIEW_IMAGES} (the limit of one preview figure), "
                        f"not {args.images}")
    check_output_file(args.out, "--out", suffixes=(".png",))
    out = Path(args.out)
    check(args.spec)  # a misspelt DA should fail before any data or model is loaded
    with blaming("--data"):
        data = load_data(args.data)
    with blaming("--teacher"):
        teacher = teacher_from_args(args, data)
    context = data.augment_context(teacher=teacher)
    aug = create(args.spec, context)

    g = torch.Generator().manual_seed(args.seed)
    n = min(args.images, len(data.train))
    idx = torch.randperm(len(data.train), generator=g)[:n]
    x, y = data.train.images[idx], data.train.labels[idx]
    result = aug(x, y, generator=g)
    shown = x[result.params["source"]] if "source" in result.params else x  # pick keeps the views that rank highest
    with torch.inference_mode():
        logits = [teacher(shown.float() / 255), result.teacher_logits if result.teacher_logits is not None
                  else teacher(result.x.float() / 255 if result.x.dtype == torch.uint8 else result.x)]
    fig = preview_figure(shown, result, logits, y, data.classes, aug.spec)
    _save(fig, out)
    print(f"wrote {out}")
    return 0


def _save(fig, out: Path) -> None:
    from ..io import atomic_path

    # Write beside the target and rename, so an existing grid is never left half-written.
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
