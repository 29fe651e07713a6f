"""Batched, generator-driven image operations shared by the data pipeline and the DAs.

Every function takes a whole batch ``x`` (N×C×H×W, uint8 or float), never modifies
it in place, keeps its dtype and device, and draws randomness only from the
``generator`` it is given, so a batch can be reproduced exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _uniform_ints(high: int, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``n`` integers uniform in ``[0, high)``, drawn on the generator's device then moved."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(0, high, (n,), generator=generator, device=gen_device).to(device)


def _coins(n: int, generator: torch.Generator | None, device: torch.device, p: float = 0.5) -> torch.Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return (torch.rand(n, generator=generator, device=gen_device) < p).to(device)


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror every image left to right."""
    return x.flip(-1)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None, *, per_sample: bool = True) -> torch.Tensor:
    """Flip each image (``per_sample``) or the whole batch with probability 1/2."""
    n = x.shape[0] if per_sample else 1
    flip = _coins(n, generator, x.device)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def crop_with_offsets(x: torch.Tensor, padding: int, offsets: torch.Tensor) -> torch.Tensor:
    """Zero-pad by ``padding`` and cut an H×W window at per-image ``offsets`` (N×2, row/col)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[:, 0:1] + torch.arange(h, device=x.device)  # N×H
    cols = offsets[:, 1:2] + torch.arange(w, device=x.device)  # N×W
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    # Advanced indexing gathers every image's window in one call: N×H×W×C.
    out = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]
    return out.permute(0, 3, 1, 2).contiguous()


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None, *, per_sample: bool = True
) -> torch.Tensor:
    """Random H×W crop of the zero-padded images, one offset per image or per batch."""
    if padding <= 0:
        return x.clone()
    n = x.shape[0] if per_sample else 1
    offsets = torch.stack(
        [_uniform_ints(2 * padding + 1, n, generator, x.device), _uniform_ints(2 * padding + 1, n, generator, x.device)],
        dim=1,
    )
    return crop_with_offsets(x, padding, offsets.expand(x.shape[0], 2))


def default_padding(size: int) -> int:
    """The paper's crop padding, 1/8 of the side: 4 for 32 px, 8 for 64 px, 28 for 224 px."""
    return max(1, round(size / 8))


def base_view(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training loader's usual view: per-image random crop (padding 1/8) and flip."""
    x = random_crop(x, default_padding(x.shape[-1]), generator, per_sample=True)
    return random_hflip(x, generator, per_sample=True)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Images as floats in [0, 1] (uint8 is divided by 255, floats pass through)."""
    if x.dtype == torch.uint8:
        return x.float().div_(255)
    return x if x.is_floating_point() else x.float()
