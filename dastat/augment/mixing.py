"""DAs that mix an image with a partner from the same batch: mixup and cutmix.

Both return soft labels (N×K) and record the draws in ``params``: ``lam`` (a float
when drawn once per batch, an N-vector with ``per_sample=True``) and ``perm`` (image
``i``'s partner is ``perm[i]``). CutMix follows the paper's code: the box side ratio is
``sqrt(1 - lam)``, its centre uniform and the box clipped at the borders; the partner
permutation is redrawn until no image is paired with itself; and ``lam`` is reset to
the exact fraction of the image that is kept.

>>> import torch
>>> out = create("cutmix")(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(0))
>>> out.y.shape, bool(torch.allclose(out.y.sum(1), torch.ones(4)))
(torch.Size([4, 4]), True)
"""

from __future__ import annotations

import torch

from . import functional as AF
from .base import AugmentContext, AugmentResult, Augmentation
from .registry import create, register  # noqa: F401  (create: doctest)


class _Mixing(Augmentation):
    mixes = True
    shared_randomness = True

    def __init__(self, alpha: float = 1.0, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(context)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.alpha = float(alpha)
        self.per_sample = bool(per_sample)
        self.shared_randomness = not self.per_sample

    def _lam(self, draws: int, generator) -> torch.Tensor:
        return AF.sample_beta(self.alpha, self.alpha, draws, generator)

    def _report(self, lam: torch.Tensor) -> float | torch.Tensor:
        # float64 so that lam equals the kept area exactly (a float32 rounds it).
        return lam.clone() if self.per_sample else float(lam[0])


@register
class Mixup(_Mixing):
    """Convex combination lam·x + (1−lam)·partner, lam ~ Beta(alpha, alpha), partner a random permutation."""

    name = "mixup"

    def forward(self, x, y, generator):
        n = x.shape[0]
        lam = self._lam(n if self.per_sample else 1, generator).expand(n)
        perm = AF.random_permutation(n, generator, x.device)
        out = AF.blend_pairs(x, perm, lam)
        return AugmentResult(out, AF.mix_labels(y, perm, lam, self.num_classes(y)), {"lam": self._report(lam), "perm": perm})


@register
class CutMix(_Mixing):
    """Paste a box of the partner (side ratio sqrt(1−lam), lam ~ Beta(alpha, alpha)); lam = kept area."""

    name = "cutmix"

    def forward(self, x, y, generator):
        n, _, h, w = x.shape
        draws = n if self.per_sample else 1
        drawn = self._lam(draws, generator)
        perm = AF.derangement(n, generator, x.device)
        ratio = torch.sqrt(1.0 - drawn)
        # int() truncation of the box side, as the reference code does.
        cut_h = torch.floor(h * ratio).long()
        cut_w = torch.floor(w * ratio).long()
        cy = AF.randint(h, draws, generator)
        cx = AF.randint(w, draws, generator)
        boxes = AF.centred_boxes(cy, cx, cut_h, cut_w, h, w)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        lam = (1.0 - area.double() / (h * w)).expand(n)
        mask = AF.range_mask(boxes[:, 0], boxes[:, 2], boxes[:, 1], boxes[:, 3], h, w, x.dtype, x.device)
        out = AF.paste_pairs(x, perm, mask)
        params = {"lam": self._report(lam), "perm": perm, "box": boxes, "lam_drawn": self._report(drawn.expand(n))}
        return AugmentResult(out, AF.mix_labels(y, perm, lam, self.num_classes(y)), params)

