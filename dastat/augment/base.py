"""The contract every data augmentation (DA) in dastat keeps.

A DA is called on a whole batch: ``aug(x, y, generator=g)`` with ``x`` N×C×H×W
(uint8, or float in [0, 1]) on any device and ``y`` integer labels (or ``None``). It
returns an :class:`AugmentResult`: the views ``x`` (same shape, dtype and device),
labels ``y`` (soft N×K for DAs that mix two images, else the hard labels), and the
random draws in ``params`` so any batch can be reproduced and inspected. It unpacks
as ``x, y = aug(x, y)``, like torchvision v2's ``CutMix``.

As in torchvision's v2 transforms (``make_params`` then ``transform``), the call is two
steps: ``params = aug.sample(x, y, generator=g)`` draws every random choice (plain
data: tensors, numbers, strings, lists, dicts), and ``aug.apply(x, y, params)`` applies
them deterministically, so recorded params replay a batch exactly. The input is never
modified in place.

Facts the statistics rely on are declared as class attributes:

* ``shared_randomness`` — one random draw covers the whole batch (the paper's DAs draw
  one Cutout mask, one Mixup λ, one CutMix box, one AutoAugment sub-policy per
  batch), so views within a batch are not independent;
* ``mixes`` — a view combines an image with a partner from the same batch;
* ``batch_dependent`` — a view depends on the other images of the batch in some other
  way (picking the most informative views from a pool ranks the whole batch);
* ``deterministic`` — no randomness at all (``identity``, ``flip``);
* ``partners`` — for a DA that mixes: how it picks each image's one partner, named in
  ``params['perm']`` (``"permutation"``: a uniform permutation, so an image may be its own
  partner; ``"derangement"``: never itself); None when it does not say, and then the
  split estimate does not apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch


@dataclass
class AugmentContext:
    """What a DA may know about the data and the models it serves (the data layer fills it in:
    :meth:`dastat.data.ImageData.augment_context`); a DA never asks which dataset it is.

    ``mean`` is the dataset's per-channel mean in [0, 1] pixel space: the paper sets
    Cutout holes to 0 *after* normalisation, which is the mean before it.
    ``autoaugment_policy`` and ``cutout_size`` are the data's defaults for those DAs.
    """

    num_classes: int | None = None
    image_size: int | None = None
    channels: int | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    autoaugment_policy: str | None = None
    cutout_size: int | None = None
    teacher: torch.nn.Module | None = None
    student: torch.nn.Module | None = None


@dataclass
class AugmentResult:
    """The output of a DA on one batch."""

    x: torch.Tensor
    y: torch.Tensor | None
    params: dict[str, Any] = field(default_factory=dict)
    #: Teacher logits for the returned views when the DA already computed them (e.g.
    #: CutMixPick ranks a pool by the teacher), so callers never forward them twice.
    teacher_logits: torch.Tensor | None = None
    #: Student logits for the returned views when the DA computed them (picking by the student).
    student_logits: torch.Tensor | None = None
    #: The teacher's features for the returned views, when asked for (``CutMixPick(return_features=True)``).
    teacher_features: torch.Tensor | None = None
    #: Model forwards (images) the DA itself spent, for honest accounting.
    forwards: int = 0

    def __iter__(self):
        """``x, y = aug(x, y)``: the views and their labels, as torchvision v2's CutMix returns them."""
        return iter((self.x, self.y))


def is_int(value: Any, low: int | None = None) -> bool:
    """``value`` is an integer (not a bool), at least ``low`` when given."""
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def is_positive(value: Any) -> bool:
    """``value`` is a finite number above zero (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


class Augmentation:
    """Base class: subclasses implement :meth:`sample` (the draws) and :meth:`apply` (the rest)."""

    name: str = "augmentation"
    shared_randomness: bool = False
    mixes: bool = False
    batch_dependent: bool = False
    deterministic: bool = False
    partners: str | None = None

    def __init__(self, context: AugmentContext | None = None):
        self.context = context or AugmentContext()
        self.spec = self.name

    def num_classes(self, y: torch.Tensor | None) -> int | None:
        """The width of soft labels: the context's class count, else the largest label + 1."""
        if self.context.num_classes is not None:
            return self.context.num_classes
        if y is None:
            return None
        if y.is_floating_point() and y.ndim == 2:
            return y.shape[1]
        return int(y.max()) + 1

    def require(self, ok: bool, param: str, what: str, value: Any) -> None:
        """Refuse a bad parameter when the DA is built, naming the DA and the parameter."""
        if not ok:
            raise ValueError(f"{self.name}'s {param} must be {what}, got {value!r}")

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> AugmentResult:
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{self.name} expects a batch N×C×H×W, got {shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name} got an empty batch (0 images); pass at least one image")
        if not (x.dtype == torch.uint8 or x.is_floating_point()):
            raise ValueError(f"{self.name} expects uint8 images or floats in [0, 1], got {x.dtype}")
        if y is not None and y.shape[0] != x.shape[0]:
            raise ValueError(f"{self.name} got {x.shape[0]} images but {y.shape[0]} labels")
        return self.apply(x, y, self.sample(x, y, generator=generator))

    def sample(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> dict[str, Any]:
        """Every random draw for this batch; only its shape, dtype and device are read."""
        return {}

    def apply(self, x: torch.Tensor, y: torch.Tensor | None, params: dict[str, Any]) -> AugmentResult:
        """The views for ``params``, deterministically; ``result.params`` holds ``params`` (and what they imply)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.spec
