"""timm's augmentations as DAs: ``timm:CONFIG``, ``timm:Mixup(...)``, ``timm:RandomErasing(...)``.

* ``timm:rand-m9-mstd0.5-inc1``, ``timm:augmix-m5-w4-d2``, ``timm:original-mstd0.5``,
  ``timm:v0``, ``timm:3a``: timm's augmentation strings, built by
  ``timm.data.auto_augment`` with the hyper-parameters ``timm.data.create_transform``
  gives them (``translate_const`` 45% of the side, ``img_mean`` the data's mean,
  ``translate_pct=0.3`` for AugMix, interpolation drawn per op). They run image by
  image on PIL images, as in a timm ``Dataset``.
* ``timm:Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1)``:
  timm's ``Mixup`` with its own arguments and defaults (``cutmix_minmax``, ``prob``,
  ``mode=batch|pair|elem``, ``correct_lam``; ``num_classes`` defaults to the data's). It
  mixes floats (mixing commutes with normalisation) and pairs image ``i`` with image
  ``N - 1 - i``; ``lam`` (one per batch, or per image in ``pair``/``elem`` mode) and
  ``perm`` are recorded like the built-in mixers'. The batch size must be even.
* ``timm:RandomErasing(probability=0.25, mode=pixel)``: runs after normalisation with the
  data's mean and std, as in timm's training pipeline; on uint8 batches the erased
  noise is clipped to the pixel range.

Where Pillow 10 and later refuse timm's request to posterize to 0 bits (``inc1`` at
magnitude 10, where timm itself fails), the image turns black, as older Pillow made it.

The views are timm's own (the seed recipe is in :mod:`dastat.augment.library`).
"""

from __future__ import annotations

import contextlib

import torch

from ..errors import UserError
from .base import AugmentContext, AugmentResult
from .entries import Entry, params_of
from .library import from_stage, library_rng, recording, to_stage
from .wrap import SeedDrawing, _check

#: The first section of each kind of timm augmentation string.
POLICY_KINDS = ("rand", "augmix", "original", "originalr", "v0", "v0r", "3a")
CLASSES = ("Mixup", "RandomErasing")


def _build_policy(config: str, side: int, mean) -> object:
    from timm.data import auto_augment as aa

    hparams = {"translate_const": int(side * 0.45), "img_mean": tuple(min(255, round(255 * m)) for m in mean)}
    if config.startswith("rand"):
        return aa.rand_augment_transform(config, hparams)
    if config.startswith("augmix"):
        return aa.augment_and_mix_transform(config, {**hparams, "translate_pct": 0.3})
    return aa.auto_augment_transform(config, hparams)


@contextlib.contextmanager
def _posterize_to_zero_bits():
    """Let PIL's posterize keep 0 bits (a black image), as Pillow did before 10.

    timm's increasing posterize (``inc1``) asks for 0 bits at magnitude 10, which newer
    Pillow refuses, so timm itself fails there; every other view is untouched.
    """
    from PIL import Image, ImageOps

    original = ImageOps.posterize

    def posterize(image: Image.Image, bits: int) -> Image.Image:
        return original(image, bits) if bits != 0 else image.point([0] * 256 * len(image.getbands()))

    ImageOps.posterize = posterize
    try:
        yield
    finally:
        ImageOps.posterize = original


class TimmPolicy(SeedDrawing):
    """A timm augmentation string (RandAugment, AugMix, AutoAugment), applied image by image on PIL images."""

    name = "timm"

    def __init__(self, config: str, context: AugmentContext | None = None):
        super().__init__(context)
        self.config = config
        self._policies: dict[tuple[int, int], object] = {}
        try:  # build now so that a bad string fails when the DA is created
            self.policy(self.context.image_size or 32, self.context.channels or 3)
        except (AssertionError, KeyError, ValueError, IndexError) as exc:
            raise ValueError(f"timm cannot read the augmentation string {config!r} ({exc or type(exc).__name__})")

    def policy(self, side: int, channels: int):
        """timm's transform for images of this side and channel count (timm's grey fill for a missing mean)."""
        if (side, channels) not in self._policies:
            mean = self.context.mean if self.context.mean is not None else (0.5,) * channels
            self._policies[side, channels] = _build_policy(self.config, side, tuple(mean)[:channels])
        return self._policies[side, channels]

    def apply(self, x, y, params):
        from torchvision.transforms.v2 import functional as F

        policy = self.policy(x.shape[-1], x.shape[1])
        pixels = x if x.dtype == torch.uint8 else (x.float() * 255).round().clamp(0, 255).to(torch.uint8)
        with library_rng(params["seed"], x.device), _posterize_to_zero_bits():
            views = [F.pil_to_tensor(policy(F.to_pil_image(img.cpu()))) for img in pixels]
        out = torch.stack(views).to(x.device)
        return AugmentResult(_check(out if x.dtype == torch.uint8 else (out.float() / 255).to(x.dtype), x, self.name),
                             y, dict(params))


class TimmMixup(SeedDrawing):
    """timm's Mixup/CutMix with its arguments; image i's partner is image N-1-i."""

    name = "timm"
    mixes = True
    shared_randomness = True

    def __init__(self, context: AugmentContext | None = None, **kwargs):
        super().__init__(context)
        from timm.data import Mixup

        mode = kwargs.get("mode", "batch")
        self.require(mode in ("batch", "pair", "elem"), "mode", "one of batch, pair, elem", mode)
        for key in ("prob", "switch_prob", "label_smoothing"):
            value = kwargs.get(key, 0.5)
            self.require(isinstance(value, (int, float)) and 0 <= value <= 1, key, "a number in [0, 1]", value)
        kwargs.setdefault("num_classes", self.context.num_classes)
        self._num_classes_given = kwargs["num_classes"] is not None
        if not self._num_classes_given:
            kwargs.pop("num_classes")
        try:
            self.mixup = Mixup(**kwargs)
        except AssertionError:
            raise ValueError("its cutmix_minmax must be two fractions of the side, e.g. [0.2, 0.8]") from None
        self.shared_randomness = self.mixup.mode == "batch"

    def apply(self, x, y, params):
        n = x.shape[0]
        if n % 2:
            raise ValueError(f"timm's Mixup needs an even batch size, got {n}")
        if not self._num_classes_given:
            self.mixup.num_classes = self.num_classes(y) or 1
        target = y if y is not None else torch.zeros(n, dtype=torch.long, device=x.device)
        lams: list = []
        with library_rng(params["seed"], x.device), recording(self.mixup, f"_mix_{self.mixup.mode}", lams):
            out, labels = self.mixup(to_stage(x, "float", self.context), target)
        lam = lams[0]
        lam = float(lam) if not isinstance(lam, torch.Tensor) else lam.detach().reshape(-1).to(torch.float64)
        out_params = {**params, "lam": lam, "perm": torch.arange(n - 1, -1, -1, device=x.device)}
        return AugmentResult(_check(from_stage(out, x, "float", self.context), x, self.name),
                             labels if y is not None else None, out_params)


class TimmRandomErasing(SeedDrawing):
    """timm's RandomErasing, on the normalised batch, each image drawn on its own."""

    name = "timm"

    def __init__(self, context: AugmentContext | None = None, **kwargs):
        super().__init__(context)
        from timm.data.random_erasing import RandomErasing

        self.erasing = RandomErasing(**{**kwargs, "device": "cpu"})

    def apply(self, x, y, params):
        self.erasing.device = x.device  # timm makes its noise on this device
        with library_rng(params["seed"], x.device):
            out = self.erasing(to_stage(x, "normalized", self.context))
        return AugmentResult(_check(from_stage(out, x, "normalized", self.context), x, self.name), y, dict(params))


def entry_for(name: str, rest: str):
    """The registry entry for ``timm:rest``: a timm class with its arguments, or an augmentation string."""
    from timm.data import Mixup
    from timm.data.random_erasing import RandomErasing

    flags = {"mixes": False, "shared_randomness": False, "batch_dependent": False, "deterministic": False}
    if rest == "Mixup":
        params = params_of(Mixup.__init__, ("self", "multi_label"))
        params["num_classes"] = None
        return Entry(name, lambda context, **kw: TimmMixup(context, **kw), params,
                     "timm's Mixup/CutMix (one partner per image: the batch reversed)", {**flags, "mixes": True,
                                                                                        "shared_randomness": True})
    if rest == "RandomErasing":
        params = params_of(RandomErasing.__init__, ("self", "device", "num_splits"))
        return Entry(name, lambda context, **kw: TimmRandomErasing(context, **kw), params,
                     "timm's RandomErasing, after normalisation", flags)
    if rest.split("-")[0] in POLICY_KINDS:
        return Entry(name, lambda context: TimmPolicy(rest, context), {}, f"timm augmentation string {rest}", flags)
    raise UserError(f"timm has no augmentation {rest!r}: name an augmentation string starting with "
                    f"{', '.join(POLICY_KINDS)} (e.g. timm:rand-m9-mstd0.5-inc1) or one of timm:{', timm:'.join(CLASSES)}")
