"""Batched, generator-driven image operations shared by the data pipeline and the DAs.

Every function takes a whole batch ``x`` (N×C×H×W, uint8 or float), never modifies
it in place, keeps its dtype and device, and draws randomness only from the
``generator`` it is given, so a batch can be reproduced exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gen_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _coins(n: int, generator: torch.Generator | None, device: torch.device, p: float = 0.5) -> torch.Tensor:
    return (torch.rand(n, generator=generator, device=_gen_device(generator)) < p).to(device)


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
    offsets = torch.stack([randint(2 * padding + 1, n, generator, x.device) for _ in range(2)], dim=1)  # rows, cols
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


# --------------------------------------------------------------------------------------
# Random draws. Everything comes from the explicit generator; non-uniform laws are
# obtained by inverting their CDF on uniforms so no global RNG is ever touched.


def uniform(n: int, generator: torch.Generator | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` floats uniform in ``[0, 1)`` (float64), drawn from ``generator``."""
    return torch.rand(n, generator=generator, device=_gen_device(generator), dtype=torch.float64).to(device)


def randint(high: int, n: int, generator: torch.Generator | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` integers uniform in ``[0, high)`` (int64), drawn from ``generator``."""
    return torch.randint(0, high, (n,), generator=generator, device=_gen_device(generator)).to(device)


def sample_gamma(alpha: torch.Tensor | float, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` Gamma(alpha, 1) draws (float64, CPU) by inverting the CDF on generator uniforms."""
    from scipy.special import gammaincinv

    u = uniform(n, generator).clamp_(1e-12, 1 - 1e-12)
    a = torch.as_tensor(alpha, dtype=torch.float64).expand(n)
    return torch.from_numpy(gammaincinv(a.numpy(), u.numpy()))


def sample_beta(alpha: float, beta: float, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` Beta(alpha, beta) draws (float64, CPU), by inverse CDF on generator uniforms.

    >>> g = torch.Generator().manual_seed(0)
    >>> lam = sample_beta(1.0, 1.0, 1000, g)
    >>> bool((lam >= 0).all() and (lam <= 1).all()), abs(lam.mean().item() - 0.5) < 0.05
    (True, True)
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"Beta parameters must be positive, got alpha={alpha}, beta={beta}")
    u = uniform(n, generator)
    if alpha == 1.0 and beta == 1.0:
        return u  # Beta(1, 1) is the uniform law: skip the special function.
    from scipy.special import betaincinv

    return torch.from_numpy(betaincinv(alpha, beta, u.numpy()))


def sample_dirichlet(alpha: float, k: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` draws (rows, float64, CPU) from a symmetric Dirichlet of ``k`` components."""
    g = sample_gamma(alpha, n * k, generator).view(n, k)
    return g / g.sum(1, keepdim=True).clamp_min(1e-300)


def derangement(n: int, generator: torch.Generator | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random permutation of ``range(n)`` with no fixed point (redrawn until there is none).

    A batch of one has no derangement; its only partner is itself.

    >>> p = derangement(5, torch.Generator().manual_seed(0))
    >>> sorted(p.tolist()), bool((p != torch.arange(5)).all())
    ([0, 1, 2, 3, 4], True)
    """
    ar = torch.arange(n)
    while True:
        perm = torch.randperm(n, generator=generator, device=_gen_device(generator)).cpu()
        if n < 2 or bool((perm != ar).all()):
            return perm.to(device)


def random_permutation(n: int, generator: torch.Generator | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """A uniformly random permutation of ``range(n)`` drawn from ``generator``."""
    return torch.randperm(n, generator=generator, device=_gen_device(generator)).to(device)


# --------------------------------------------------------------------------------------
# Boxes and masks.


def centred_boxes(
    cy: torch.Tensor, cx: torch.Tensor, h_box: torch.Tensor, w_box: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Boxes of side ``h_box``×``w_box`` centred on ``(cy, cx)``, clipped at the borders.

    Returns N×4 ``(top, left, bottom, right)`` with exclusive bottom/right, the
    convention of Cutout and CutMix's reference code (``c - s // 2`` to ``c + s // 2``).

    >>> centred_boxes(torch.tensor([0]), torch.tensor([5]), torch.tensor([4]), torch.tensor([4]), 8, 8).tolist()
    [[0, 3, 2, 7]]
    """
    top = (cy - h_box // 2).clamp(0, height)
    bottom = (cy + h_box // 2).clamp(0, height)
    left = (cx - w_box // 2).clamp(0, width)
    right = (cx + w_box // 2).clamp(0, width)
    return torch.stack([top, left, bottom, right], dim=1)


def range_mask(
    lo_rows: torch.Tensor, hi_rows: torch.Tensor, lo_cols: torch.Tensor, hi_cols: torch.Tensor,
    height: int, width: int, dtype: torch.dtype, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """N×1×H×W masks of 0/1 in ``dtype``: 1 where ``lo_rows <= row < hi_rows`` and likewise for columns.

    Bounds are N-vectors (or N×K for K boxes per image, united). A 0/1 mask in the
    image's own dtype lets :func:`select` blend with plain arithmetic, which is several
    times faster on CPU than boolean broadcasting with ``torch.where``.

    >>> range_mask(torch.tensor([1]), torch.tensor([3]), torch.tensor([0]), torch.tensor([1]), 4, 2, torch.uint8)[0, 0].tolist()
    [[0, 0], [1, 0], [1, 0], [0, 0]]
    """
    if lo_rows.ndim == 1:
        lo_rows, hi_rows, lo_cols, hi_cols = (t.unsqueeze(1) for t in (lo_rows, hi_rows, lo_cols, hi_cols))
    rows = torch.arange(height).view(1, 1, height)
    cols = torch.arange(width).view(1, 1, width)
    in_rows = ((rows >= lo_rows.cpu().unsqueeze(-1)) & (rows < hi_rows.cpu().unsqueeze(-1))).to(dtype)
    in_cols = ((cols >= lo_cols.cpu().unsqueeze(-1)) & (cols < hi_cols.cpu().unsqueeze(-1))).to(dtype)
    mask = in_rows.to(device).unsqueeze(-1) * in_cols.to(device).unsqueeze(-2)  # N×K×H×W
    return (mask if mask.shape[1] == 1 else mask.amax(1, keepdim=True)).contiguous()


def select(mask: torch.Tensor, inside: torch.Tensor, outside: torch.Tensor) -> torch.Tensor:
    """``inside`` where the 0/1 ``mask`` is 1, else ``outside`` (exact: one term is always zero)."""
    return outside * (1 - mask) + inside * mask


def fill_value(x: torch.Tensor, fill: float | tuple[float, ...] | list[float]) -> torch.Tensor:
    """A per-channel fill given in [0, 1] pixel space, as a 1×C×1×1 tensor of ``x``'s dtype."""
    value = torch.as_tensor(fill, dtype=torch.float32, device=x.device).flatten()
    if value.numel() == 1:
        value = value.expand(x.shape[1])
    elif value.numel() != x.shape[1]:
        raise ValueError(f"fill has {value.numel()} values but the images have {x.shape[1]} channels")
    if x.dtype == torch.uint8:
        value = (value * 255).round()
    return value.to(x.dtype).view(1, -1, 1, 1)


def blend_pairs(x: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``lam·x + (1−lam)·x[perm]`` per image; uint8 results are rounded to the nearest level."""
    lam = lam.to(device=x.device, dtype=torch.float32).view(-1, 1, 1, 1)
    xf = x if x.is_floating_point() else x.float()
    out = lam.to(xf.dtype) * xf + (1 - lam.to(xf.dtype)) * xf[perm]
    if x.is_floating_point():
        return out
    return out.round_().clamp_(0, 255).to(x.dtype)


def paste_pairs(x: torch.Tensor, perm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` with each image's ``mask`` region (boolean, or 0/1 in ``x``'s dtype) taken from ``x[perm]``."""
    if mask.dtype == torch.bool:
        return torch.where(mask, x[perm], x)
    return select(mask, x[perm], x)


def soft_labels(y: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    """One-hot float labels (N×K) from integer labels, or ``y`` itself if already soft."""
    if y.is_floating_point() and y.ndim == 2:
        return y
    k = num_classes if num_classes is not None else int(y.max()) + 1
    return F.one_hot(y.long(), k).float()


def mix_labels(y: torch.Tensor | None, perm: torch.Tensor, lam: torch.Tensor, num_classes: int | None) -> torch.Tensor | None:
    """Soft labels ``lam·y + (1−lam)·y[perm]`` (``None`` stays ``None``)."""
    if y is None:
        return None
    soft = soft_labels(y, num_classes)
    lam = lam.to(device=soft.device, dtype=soft.dtype).view(-1, 1)
    return lam * soft + (1 - lam) * soft[perm.to(soft.device)]
