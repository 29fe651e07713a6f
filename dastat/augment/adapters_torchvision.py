"""torchvision v2 transforms as DAs, by class name and arguments: ``tv:NAME(key=value, ...)``.

Any ``torchvision.transforms.v2`` transform class is a DA: ``tv:RandAugment(num_ops=2,
magnitude=9)``, ``tv:TrivialAugmentWide``, ``tv:AugMix(severity=3)``,
``tv:RandomErasing(p=1.0)``, ``tv:CutMix(alpha=1.0)``, ``tv:MixUp(alpha=0.2)``. The
arguments are the class's own; the views are torchvision's own (the seed recipe is in
:mod:`dastat.augment.library`).

* Single-image transforms draw per image by default (``per_sample=True``), as they do
  in a ``Dataset``'s transform; ``per_sample=False`` calls the transform once on the
  whole batch, which torchvision treats as one image (one draw for every image).
* ``RandomErasing`` runs after ``Normalize(mean, std)`` with the data's statistics, as in
  torchvision's training recipes, so its default ``value=0`` erases to the mean;
  ``GaussianNoise`` runs on floats in [0, 1]; the rest see the batch as dastat holds it.
* ``CutMix`` and ``MixUp`` mix the batch with itself rolled by one (image ``i``'s partner
  is image ``i - 1``), one λ per batch, and return soft labels; the draws are recorded
  as ``lam`` and ``perm`` like the built-in mixers'. ``num_classes`` defaults to the data's.

>>> import torch
>>> from dastat.augment import create
>>> out = create("tv:MixUp")(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(0))
>>> out.y.shape, out.params["perm"].tolist()
(torch.Size([4, 4]), [3, 0, 1, 2])
"""

from __future__ import annotations

import difflib
import inspect

import torch

from ..errors import UserError
from .base import AugmentContext, AugmentResult
from .entries import Entry, params_of, summary_of
from .library import from_stage, library_rng, recording, to_stage
from .wrap import SeedDrawing, TransformAugmentation, _check

#: Transforms that do not work on the images as dastat holds them (see :data:`~dastat.augment.library.STAGES`).
STAGE = {"RandomErasing": "normalized", "GaussianNoise": "float"}
MIXERS = ("CutMix", "MixUp")


class TorchvisionTransform(TransformAugmentation):
    """A torchvision v2 single-image transform, applied image by image (or once to the batch)."""

    name = "tv"

    def __init__(self, transform, context: AugmentContext | None = None, *, per_sample: bool = True,
                 stage: str = "pixels"):
        super().__init__(transform, context, per_sample=per_sample)
        self.stage = stage

    def apply(self, x, y, params):
        with library_rng(params["seed"], x.device):
            src = to_stage(x, self.stage, self.context)
            out = torch.stack([self.transform(img) for img in src]) if self.per_sample else self.transform(src)
        return AugmentResult(_check(from_stage(out, x, self.stage, self.context), x, self.name), y, dict(params))


class TorchvisionMixing(SeedDrawing):
    """torchvision v2's CutMix or MixUp on the batch and its labels, on floats in [0, 1]."""

    name = "tv"
    mixes = True
    shared_randomness = True

    def __init__(self, transform, context: AugmentContext | None = None):
        super().__init__(context)
        self.transform = transform
        self._num_classes_given = transform.num_classes is not None

    def apply(self, x, y, params):
        if y is None:
            raise ValueError(f"{self.name} mixes labels too: call it with the batch's labels")
        if not self._num_classes_given:
            self.transform.num_classes = None if y.ndim == 2 else self.num_classes(y)
        drawn: list[dict] = []
        with library_rng(params["seed"], x.device), recording(self.transform, "make_params", drawn):
            out, labels = self.transform(to_stage(x, "float", self.context), y)
        n = x.shape[0]
        lam = drawn[0]["lam_adjusted"] if "lam_adjusted" in drawn[0] else drawn[0]["lam"]
        out_params = {**params, "lam": float(lam), "perm": (torch.arange(n, device=x.device) - 1) % n}
        if "box" in drawn[0]:
            out_params["box_xyxy"] = list(drawn[0]["box"])  # torchvision's (x1, y1, x2, y2)
        return AugmentResult(_check(from_stage(out, x, "float", self.context), x, self.name), labels, out_params)


def _transform_classes() -> dict[str, type]:
    from torchvision.transforms import v2

    return {n: c for n in dir(v2) if inspect.isclass(c := getattr(v2, n)) and issubclass(c, v2.Transform)
            and not n.startswith("_")}


def entry_for(name: str, cls_name: str):
    """The registry entry for ``tv:cls_name``: the class's arguments (and ``per_sample`` for single-image ones)."""
    classes = _transform_classes()
    if cls_name not in classes:
        close = difflib.get_close_matches(cls_name, list(classes), n=1, cutoff=0.5)
        hint = f" (did you mean 'tv:{close[0]}'?)" if close else ""
        raise UserError(f"torchvision.transforms.v2 has no transform {cls_name!r}{hint}; "
                        "name a class of torchvision.transforms.v2, e.g. tv:RandAugment(num_ops=2, magnitude=9)")
    cls = classes[cls_name]
    params = params_of(cls.__init__, ("self", "labels_getter"))
    summary = f"torchvision v2 {cls_name}: {summary_of(cls, cls_name)}"
    if cls_name in MIXERS:
        flags = {"mixes": True, "shared_randomness": True, "batch_dependent": False, "deterministic": False}
        return Entry(name, lambda context, **kw: TorchvisionMixing(cls(**kw), context), params, summary, flags)
    params["per_sample"] = True
    flags = {"mixes": False, "shared_randomness": False, "batch_dependent": False, "deterministic": False}

    def build(context, per_sample=True, **kw):
        return TorchvisionTransform(cls(**kw), context, per_sample=per_sample, stage=STAGE.get(cls_name, "pixels"))

    return Entry(name, build, params, summary, flags)
