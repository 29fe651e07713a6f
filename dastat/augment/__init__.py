"""Data augmentations (DAs) for knowledge distillation, batched and reproducible.

A DA is named by a spec (``cutmix``, ``cutmix(alpha=0.5)``, ``crop_flip+cutmix``) and
built with :func:`create`; calling it on a batch with an explicit generator returns the
views, their labels and the random draws::

    >>> import torch
    >>> from dastat.augment import create
    >>> aug = create("mixup")
    >>> out = aug(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(0))
    >>> out.x.shape, out.y.shape, sorted(out.params)
    (torch.Size([4, 1, 8, 8]), torch.Size([4, 4]), ['lam', 'perm'])

The call is :meth:`~Augmentation.sample` (every random draw, as plain data) then
:meth:`~Augmentation.apply` (deterministic), so recorded params replay a batch::

    >>> x = torch.rand(4, 1, 8, 8)
    >>> params = aug.sample(x, generator=torch.Generator().manual_seed(1))
    >>> bool(torch.equal(aug.apply(x, None, params).x, aug(x, generator=torch.Generator().manual_seed(1)).x))
    True

The paper's nine DAs are :data:`PAPER_DAS`; ``dastat augment list`` shows every
registered one with its parameters.
"""

from __future__ import annotations

from .base import AugmentContext, AugmentResult, Augmentation
from .compose import Compose
from .registry import PAPER_DAS, available, create, describe, register

# The built-in DAs register themselves when their modules are imported, here and in this order
# (the order available() lists them in); the registry itself imports none of them.
from . import transforms, policies, mixing  # noqa: E402,F401
from .pick import CutMixPick, Pick  # noqa: E402


__all__ = [
    "AugmentContext", "AugmentResult", "Augmentation", "Compose", "CutMixPick", "PAPER_DAS", "Pick",
    "available", "create", "describe", "register",
]
