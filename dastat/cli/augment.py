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
from typing import TYPE_CHECKING

from ..errors import UserError

#: The most image pairs one preview figure shows.
MAX_PREVIEW_IMAGES = 64

if TYPE_CHECKING:
    import torch

#: How a picking DA's criterion is written under a kept view.
SCORE_NAMES = {"t_entropy": "teacher H", "s_entropy": "student H", "kl": "KL"}


#: The subcommands this module adds, with the line ``dastat --help`` shows for each (listed without
#: importing what the commands need).
COMMANDS = {
    "augment": "list the data augmentations, or preview one on real images",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("augment", help=COMMANDS["augment"],
                       description="Inspect the data augmentations dastat knows.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

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
    from .common import teacher_from_args
    from .paths import blame, check_output_file

    if not 1 <= args.images <= MAX_PREVIEW_IMAGES:
        raise UserError(f"--images must be between 1 and {MAX_PREVIEW_IMAGES} (the limit of one preview figure), "
                        f"not {args.images}")
    check_output_file(args.out, "--out", suffixes=(".png",))
    out = Path(args.out)
    check(args.spec)  # a misspelt DA should fail before any data or model is loaded
    with blame("--data", "data"):
        data = load_data(args.data)
    with blame("--teacher", "teacher"):
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


def _class_name(classes, k: int) -> str:
    return classes[k] if classes and k < len(classes) else str(k)


def _per_view(value, n: int) -> torch.Tensor:
    import torch

    return torch.as_tensor(value, dtype=torch.float64).cpu().expand(n)


def view_notes(result, labels: torch.Tensor | None, classes) -> list[str]:
    """What the DA did to each view, from ``result.params`` and its soft labels ``result.y``.

    ``labels`` are the batch's original labels (a partner is named by its class).
    """
    p, n = result.params, result.x.shape[0]
    boxed = "box" in p or any("box" in d for d in p.get("draws", []))
    notes = [[] for _ in range(n)]
    for i in range(n):
        if "lam" in p:
            lam = float(_per_view(p["lam"], n)[i])
            notes[i].append(f"kept {lam:.2f}" if boxed else f"λ={lam:.2f}")
        if "perm" in p and labels is not None:
            notes[i].append(f"partner {_class_name(classes, int(labels[int(p['perm'][i])]))}")
        if result.y is not None and result.y.ndim == 2:
            shares = result.y[i].float().cpu()
            top = [k for k in shares.argsort(descending=True).tolist()[:2] if shares[k] > 0]
            notes[i].append(" / ".join(f"{float(shares[k]):.2f} {_class_name(classes, k)}" for k in top))
        if "picked" in p:
            name = SCORE_NAMES.get(p.get("criterion"), "score")
            notes[i].append(f"pool #{int(p['picked'][i])} (draw {int(p['draw'][i])}), {name}={float(p['scores'][i]):.2f}")
    return ["\n".join(lines) for lines in notes]


def preview_figure(x, result, logits, labels, classes, title: str):
    """Originals over their views, each with the teacher's top class and entropy; views with :func:`view_notes`."""
    import torch
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend stays as it is

    from ..augment.pick import entropy_from_logits

    n = x.shape[0]
    notes = view_notes(result, labels, classes)
    extra = max((s.count("\n") + 1 for s in notes if s), default=0)
    fig = Figure(figsize=(1.9 * n, 4.2 + 0.5 * extra))
    axes = fig.subplots(2, n, squeeze=False)
    for row, (images, row_logits) in enumerate(zip((x, result.x), logits)):
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        top = row_logits.float().argmax(1)
        ent = entropy_from_logits(row_logits)
        for i in range(n):
            ax = axes[row][i]
            img = images[i].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"{_class_name(classes, int(top[i]))}\nH={float(ent[i]):.2f}"
            ax.set_xlabel(label + (f"\n{notes[i]}" if row == 1 and notes[i] else ""), fontsize=7)
        axes[row][0].set_ylabel("original" if row == 0 else "augmented", fontsize=8)
    fig.suptitle(f"{title}: teacher's top class and entropy (nats) per view; under views, what the DA did", fontsize=9)
    fig.tight_layout()
    return fig


def _save(fig, out: Path) -> None:
    from ..io import atomic_path

    # Write beside the target and rename, so an existing grid is never left half-written.
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
