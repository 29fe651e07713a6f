"""A DA's views beside their originals (``dastat augment preview``): under each image the teacher's top
class and entropy, under each view what the DA did, read from its recorded params and soft labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: How a picking DA's criterion is written under a kept view.
SCORE_NAMES = {"t_entropy": "teacher H", "s_entropy": "student H", "kl": "KL"}


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

    from ..augment.pick import entropy_from_logits  # torch loads with the figure, not with dastat.plot

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
