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
from .base import AugmentContext, AugmentResult, Augmentation, is_positive
from .registry import create, register  # noqa: F401  (create: doctest)


class _Mixing(Augmentation):
    mixes = True
    shared_randomness = True

    def __init__(self, alpha: float = 1.0, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(context)
        self.require(is_positive(alpha), "alpha", "a positive number", alpha)
        self.alpha = float(alpha)
        self.per_sample = bool(per_sample)
        self.shared_randomness = not self.per_sample

    def _lam(self, draws: int, generator) -> torch.Tensor:
        return AF.sample_beta(self.alpha, self.alpha, draws, generator)

    def _report(self, lam: torch.Tensor) -> float | torch.Tensor:
        # float64 so that lam equals the kept area exactly (a float32 rounds it).
        return lam.clone() if self.per_sample else float(lam[0])

    @staticmethod
    def _lams(params, n: int) -> torch.Tensor:
        return torch.as_tensor(params["lam"], dtype=torch.float64).expand(n)


@register
class Mixup(_Mixing):
    """Convex combination lam·x + (1−lam)·partner, lam ~ Beta(alpha, alpha), partner a random permutation."""

    name = "mixup"
    partners = "permutation"

    def sample(self, x, y=None, *, generator=None):
        n = x.shape[0]
        lam = self._lam(n if self.per_sample else 1, generator).expand(n)
        return {"lam": self._report(lam), "perm": AF.random_permutation(n, generator, x.device)}

    def apply(self, x, y, params):
        lam, perm = self._lams(params, x.shape[0]), params["perm"]
        return AugmentResult(AF.blend_pairs(x, perm, lam), AF.mix_labels(y, perm, lam, self.num_classes(y)), dict(params))


@register
class CutMix(_Mixing):
    """Paste a box of the partner (side ratio sqrt(1−lam), lam ~ Beta(alpha, alpha)); lam = kept area."""

    name = "cutmix"
    partners = "derangement"

    def sample(self, x, y=None, *, generator=None):
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
        return {"lam": self._report(lam), "perm": perm, "box": boxes, "lam_drawn": self._report(drawn.expand(n))}

    def apply(self, x, y, params):
        _, _, h, w = x.shape
        lam, perm, boxes = self._lams(params, x.shape[0]), params["perm"], params["box"]
        mask = AF.range_mask(boxes[:, 0], boxes[:, 2], boxes[:, 1], boxes[:, 3], h, w, x.dtype, x.device)
        out = AF.paste_pairs(x, perm, mask)
        return AugmentResult(out, AF.mix_labels(y, perm, lam, self.num_classes(y)), dict(params))
