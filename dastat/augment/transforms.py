"""The single-image DAs of the paper: identity, flip, crop_flip and cutout.

Each works on a whole batch with batched tensor operations. By default the random
draw is shared by the batch, as in the paper's code (one crop offset and one flip
coin, one Cutout mask per batch); ``per_sample=True`` draws per image.

>>> import torch
>>> x = torch.arange(4.0).view(1, 1, 1, 4) / 4
>>> create("flip")(x).x.flatten().tolist()
[0.75, 0.5, 0.25, 0.0]
"""

from __future__ import annotations

import torch

from . import functional as AF
from .base import AugmentContext, AugmentResult, Augmentation, is_int
from .registry import create, register  # noqa: F401  (create: doctest)


@register
class Identity(Augmentation):
    """The batch itself (the KD loss sees every image twice); returns the same tensor object."""

    name = "identity"
    deterministic = True

    def apply(self, x, y, params):
        # Returning ``x`` itself lets a scorer see that no forward is needed for this view.
        return AugmentResult(x, y, dict(params))


@register
class Flip(Augmentation):
    """Mirror every image left to right (on top of the base view's random flip)."""

    name = "flip"
    deterministic = True

    def apply(self, x, y, params):
        return AugmentResult(AF.hflip(x), y, dict(params))


@register
class CropFlip(Augmentation):
    """Random crop of the zero-padded image (padding 1/8 of the side), then a random flip."""

    name = "crop_flip"
    shared_randomness = True

    def __init__(self, padding: int | None = None, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(context)
        side = self.context.image_size
        self.require(padding is None or is_int(padding, 0), "padding", "a non-negative integer", padding)
        self.require(padding is None or side is None or padding <= side, "padding", f"at most the image side {side}", padding)
        self.padding = padding
        self.per_sample = bool(per_sample)
        self.shared_randomness = not self.per_sample

    def sample(self, x, y=None, *, generator=None):
        n, _, _, w = x.shape
        pad = AF.default_padding(w) if self.padding is None else self.padding
        self.require(pad <= w, "padding", f"at most the image side {w}", pad)
        draws = n if self.per_sample else 1
        offsets = torch.stack([AF.randint(2 * pad + 1, draws, generator, x.device) for _ in range(2)], 1)  # rows, cols
        return {"padding": pad, "offsets": offsets, "flip": AF.uniform(draws, generator, x.device) < 0.5}

    def apply(self, x, y, params):
        n, pad = x.shape[0], params["padding"]
        out = AF.crop_with_offsets(x, pad, params["offsets"].expand(n, 2)) if pad > 0 else x.clone()
        out = torch.where(params["flip"].view(-1, 1, 1, 1), out.flip(-1), out)
        return AugmentResult(out, y, dict(params))


@register
class Cutout(Augmentation):
    """Square holes filled with the dataset mean (0 after normalisation); centre uniform, clipped.

    ``size`` defaults to the context's ``cutout_size`` (16 for CIFAR-10, as in the paper) and
    otherwise a quarter of the side (8 for 32-pixel CIFAR-100, 16 for 64-pixel Tiny ImageNet,
    56 for 224 pixels, 7 for Fashion-MNIST). ``fill`` is in [0, 1] pixel space, one value or
    one per channel; by default the context's mean, else 0.5.
    """

    name = "cutout"
    shared_randomness = True

    def __init__(
        self,
        size: int | None = None,
        holes: int = 1,
        fill: float | tuple[float, ...] | None = None,
        per_sample: bool = False,
        *,
        context: AugmentContext | None = None,
    ):
        super().__init__(context)
        self.require(size is None or is_int(size, 1), "size", "a positive integer", size)
        self.require(is_int(holes, 1), "holes", "a positive integer", holes)
        self.size = size
        self.holes = holes
        mean = self.context.mean
        self.fill = fill if fill is not None else tuple(float(m) for m in mean) if mean is not None else 0.5
        self.per_sample = bool(per_sample)
        self.shared_randomness = not self.per_sample

    def hole_size(self, side: int) -> int:
        return self.size or self.context.cutout_size or round(side / 4)

    def sample(self, x, y=None, *, generator=None):
        n, _, h, w = x.shape
        size = self.hole_size(w)
        draws = n if self.per_sample else 1
        cy = AF.randint(h, draws * self.holes, generator).view(draws, self.holes)
        cx = AF.randint(w, draws * self.holes, generator).view(draws, self.holes)
        half = size // 2
        # Rows/cols in [c - size//2, c + size//2), clipped at the borders: draws × holes × (top, left, bottom, right).
        boxes = torch.stack([cy - half, cx - half, cy + half, cx + half], -1)
        boxes = torch.minimum(boxes.clamp_min(0), torch.tensor([h, w, h, w]))
        fill = list(self.fill) if isinstance(self.fill, (tuple, list)) else self.fill
        return {"boxes": boxes, "size": size, "fill": fill}

    def apply(self, x, y, params):
        _, _, h, w = x.shape
        b = params["boxes"]
        mask = AF.range_mask(b[..., 0], b[..., 2], b[..., 1], b[..., 3], h, w, x.dtype, x.device)
        return AugmentResult(AF.select(mask, self._fill_tensor(x, params["fill"]), x), y, dict(params))

    def _fill_tensor(self, x: torch.Tensor, fill) -> torch.Tensor:
        key = (x.dtype, x.device, x.shape[1], str(fill))
        if getattr(self, "_fill_key", None) != key:
            self._fill_key, self._fill_value = key, AF.fill_value(x, fill)
        return self._fill_value
