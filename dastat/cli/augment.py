"""``dastat augment list`` and ``dastat augment preview``: see the DAs before trusting a number.

``list`` prints every registered DA with its parameters, their defaults and what it
does. ``preview`` draws original/augmented pairs from a dataset with the teacher's
top class and entropy under each view, as a PNG grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("augment", help="list the data augmentations, or preview one on real images",
                       description="Inspect the data augmentations dastat knows.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    lp = actions.add_parser("list", help="every DA with its parameters and defaults",
                            description="Print every registered DA, its parameters with defaults, and what it does.")
    lp.set_defaults(func=run_list)

    pp = actions.add_parser("preview", help="a PNG grid of original/augmented pairs with the teacher's view of each",
                            description="Draw images, apply a DA, and show the teacher's top class and entropy "
                                        "under the original and the augmented view.")
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

    for e in describe():
        mark = "*" if e.name in PAPER_DAS else " "
        print(f"{mark} {e.signature()}\n      {e.summary}")
    print("\n* the paper's nine. Compose with '+', e.g. crop_flip+cutmix; per_sample=True draws per image.")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    import torch

    from ..augment import AugmentContext, create
    from ..augment.registry import check
    from ..data import load_data
    from .common import teacher_from_args
    from .paths import blame, check_output_file

    if args.images < 1:
        raise UserError("--images must be at least 1")
    check_output_file(args.out, "--out", suffixes=(".png",))
    out = Path(args.out)
    check(args.spec)  # a misspelt DA should fail before any data or model is loaded
    with blame("--data", "data"):
        data = load_data(args.data)
    with blame("--teacher", "teacher"):
        teacher = teacher_from_args(args, data)
    context = AugmentContext.from_data(data, teacher=teacher)
    aug = create(args.spec, context)

    g = torch.Generator().manual_seed(args.seed)
    n = min(args.images, len(data.train))
    idx = torch.randperm(len(data.train), generator=g)[:n]
    x, y = data.train.images[idx], data.train.labels[idx]
    result = aug(x, y, generator=g)
    if "source" in result.params:  # pick keeps views of whichever images rank highest
        x = x[result.params["source"]]
    with torch.inference_mode():
        logits = [teacher(x.float() / 255), result.teacher_logits if result.teacher_logits is not None
                  else teacher(result.x.float() / 255 if result.x.dtype == torch.uint8 else result.x)]
    _write_grid(out, x, result, logits, data.classes, aug.spec)
    print(f"wrote {out}")
    return 0


def _write_grid(out: Path, x, result, logits, classes, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from ..augment.pick import entropy

    n = x.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 4.0), squeeze=False)
    for row, (images, row_logits) in enumerate(zip((x, result.x), logits)):
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        top = row_logits.float().argmax(1)
        ent = entropy(row_logits)
        for i in range(n):
            ax = axes[row][i]
            img = images[i].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            name = classes[int(top[i])] if classes and int(top[i]) < len(classes) else str(int(top[i]))
            ax.set_xlabel(f"{name}\nH={float(ent[i]):.2f}", fontsize=7)
        axes[row][0].set_ylabel("original" if row == 0 else "augmented", fontsize=8)
    lam = result.params.get("lam")
    subtitle = f" (lam={lam:.2f})" if isinstance(lam, float) else ""
    fig.suptitle(f"{title}{subtitle}: teacher's top class and entropy (nats) per view", fontsize=9)
    fig.tight_layout()
    # Write beside the target and rename, so an existing grid is never left half-written.
    try:
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
