"""Batched image operations of the AutoAugment family, with one magnitude per image.

torchvision's ``AutoAugment``, ``RandAugment``, ``TrivialAugment`` and ``AugMix`` apply
one operation with one magnitude to a whole batched tensor. To draw the operation and
its magnitude per image without a Python loop over images, every operation here takes
a vector of magnitudes (one per image) and follows torchvision's tensor kernels
(``torchvision.transforms.v2.functional``) step for step, so that an image gets the
same result as torchvision applied to it alone (up to one grey level for uint8, where
float rounding decides a truncation):

* the five geometric operations (shears, translations, rotation) become one
  ``grid_sample`` over per-image inverse affine matrices, built exactly as
  torchvision's ``_get_inverse_affine_matrix`` and ``_affine_grid`` do;
* blends (brightness, colour, contrast, sharpness) broadcast a per-image factor;
* posterize and solarize broadcast per-image bit masks and thresholds.

:func:`apply_ops` applies, for each image, the operation named by ``op_ids`` with its
magnitude, grouping images by operation.

>>> x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
>>> apply_ops(x, torch.tensor([OPS.index("Invert"), 0]), torch.zeros(2))[:, 0, 0, 0].tolist()
[255, 0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Operation names as torchvision spells them; an id is an index into this tuple.
OPS = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
    "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
    "AutoContrast", "Equalize", "Invert",
)
GEOMETRIC = frozenset(range(1, 6))


def _bound(dtype: torch.dtype) -> float:
    return 1.0 if dtype.is_floating_point else 255.0


def _finish(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Clamp to the valid range and cast back; integer casts truncate, as torchvision's do."""
    out = out.clamp_(0, _bound(like.dtype))
    return out if like.is_floating_point() else out.to(like.dtype)


def _factor(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return f.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32).view(-1, 1, 1, 1)


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    r = _factor(ratio, x)
    return _finish(x.mul(r).addcmul_(other.expand_as(x), 1.0 - r), x)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=1)
    gray = r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1)
    return gray if x.is_floating_point() else gray.floor_()


def brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``adjust_brightness`` with one factor per image."""
    return _finish(x.mul(_factor(factor, x)), x)


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``adjust_saturation`` with one factor per image (a no-op on one channel, as in PIL)."""
    if x.shape[1] == 1:
        return x.clone()
    return _blend(x, _grayscale(x), factor)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``adjust_contrast`` with one factor per image: blend towards the image's mean grey."""
    gray = _grayscale(x) if x.shape[1] == 3 else (x if x.is_floating_point() else x.float())
    return _blend(x, gray.mean(dim=(1, 2, 3), keepdim=True), factor)


def sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``adjust_sharpness`` with one factor per image; the one-pixel border is kept."""
    c, h, w = x.shape[1:]
    if h <= 2 or w <= 2:
        return x.clone()
    dtype = x.dtype if x.is_floating_point() else torch.float32
    a, b = 1.0 / 13.0, 5.0 / 13.0
    kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=dtype, device=x.device).expand(c, 1, 3, 3)
    out = x.to(dtype=dtype, copy=True)
    blurred = F.conv2d(out, kernel, groups=c)
    if not x.is_floating_point():
        blurred = blurred.round_()
    view = out[..., 1:-1, 1:-1]
    view.add_(blurred.sub_(view).mul_(1.0 - _factor(factor, out)))
    return _finish(out, x)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the ``bits`` most significant bits of each value, per image."""
    bits = bits.to(device=x.device, dtype=torch.long).view(-1, 1, 1, 1)
    if x.is_floating_point():
        levels = (1 << bits).to(x.dtype)
        return x.mul(levels).floor_().clamp_(min=0).minimum(levels - 1).div_(levels)
    mask = ((255 << (8 - bits.clamp(0, 8))) & 255).to(torch.uint8)
    return x & mask


def invert(x: torch.Tensor) -> torch.Tensor:
    """``1 - x`` for floats, ``255 - x`` for uint8."""
    return 1.0 - x if x.is_floating_point() else x.bitwise_not()


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert the values at or above a per-image ``threshold`` (in the dtype's range)."""
    t = threshold.to(device=x.device, dtype=torch.float32).view(-1, 1, 1, 1)
    return torch.where(x >= t, invert(x), x)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to the full range."""
    bound = _bound(x.dtype)
    xf = x if x.is_floating_point() else x.float()
    lo = xf.amin(dim=(-2, -1), keepdim=True)
    hi = xf.amax(dim=(-2, -1), keepdim=True)
    flat = hi == lo
    scale = torch.where(flat, torch.ones_like(hi), (hi - lo).mul_(1.0 / bound))
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return xf.sub(lo).div_(scale).clamp_(0, bound).to(x.dtype)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel (torchvision's kernel is batched already)."""
    from torchvision.transforms.v2 import functional as TF

    return TF.equalize(x)


def inverse_affine(
    angle: torch.Tensor,
    translate: torch.Tensor,
    shear: torch.Tensor,
    center: torch.Tensor,
) -> torch.Tensor:
    """Per-image inverse affine matrices (N×2×3, float64), as torchvision builds them.

    ``angle`` in degrees (N), ``translate`` and ``shear`` (degrees) N×2, ``center`` N×2 in
    pixels relative to the image centre; scale is 1.
    """
    rot = torch.deg2rad(angle.double())
    sx, sy = torch.deg2rad(shear.double()).unbind(1)
    cx, cy = center.double().unbind(1)
    tx, ty = translate.double().unbind(1)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -(a * torch.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = torch.cos(rot) - c * torch.tan(sx)
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = cx - m0 * (cx + tx) - m1 * (cy + ty)
    m5 = cy - m3 * (cx + tx) - m4 * (cy + ty)
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1).view(-1, 2, 3)


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour warp of each image by its inverse affine matrix, zero fill.

    One ``grid_sample`` for the batch; the grid is built as torchvision's ``_affine_grid``.
    """
    n, _, h, w = x.shape
    dtype = x.dtype if x.is_floating_point() else torch.float32
    theta = theta.to(device=x.device, dtype=dtype)
    base = torch.empty(1, h, w, 3, dtype=dtype, device=x.device)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=x.device))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=x.device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2).div(torch.tensor([0.5 * w, 0.5 * h], dtype=dtype, device=x.device))
    # One (H·W)×3 by 3×(2N) product instead of N small bmm's: several times faster on CPU.
    grid = torch.einsum("pk,nkj->npj", base.view(h * w, 3), scaled).reshape(n, h, w, 2)
    xf = x if x.is_floating_point() else x.to(dtype)
    out = F.grid_sample(xf, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out if x.is_floating_point() else out.round_().to(x.dtype)


def geometric(x: torch.Tensor, op_ids: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
    """ShearX/ShearY/TranslateX/TranslateY/Rotate, one (op, magnitude) per image, one warp."""
    n, _, h, w = x.shape
    ops = op_ids.cpu()
    m = magnitudes.cpu().double()
    zeros = torch.zeros(n, dtype=torch.float64)
    is_ = {name: ops == OPS.index(name) for name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")}
    shear_deg = torch.rad2deg(torch.atan(m))
    shear = torch.stack([torch.where(is_["ShearX"], shear_deg, zeros), torch.where(is_["ShearY"], shear_deg, zeros)], 1)
    shift = torch.trunc(m)  # torchvision passes int(magnitude) pixels
    translate = torch.stack(
        [torch.where(is_["TranslateX"], shift, zeros), torch.where(is_["TranslateY"], shift, zeros)], 1
    )
    # Rotate turns by -angle in affine terms (torchvision's rotate/affine sign convention).
    angle = torch.where(is_["Rotate"], -(m % 360), zeros)
    # Shears are taken about the top-left corner (centre=[0, 0] in torchvision's call).
    corner = torch.tensor([-0.5 * w, -0.5 * h], dtype=torch.float64)
    sheared = (is_["ShearX"] | is_["ShearY"]).unsqueeze(1)
    center = torch.where(sheared, corner, torch.zeros(2, dtype=torch.float64))
    return warp(x, inverse_affine(angle, translate, shear, center))


#: How each non-geometric operation applies its per-image magnitudes (identity ignores them).
_NON_GEOMETRIC = {
    "Identity": lambda x, m: x,
    "Brightness": lambda x, m: brightness(x, 1.0 + m),
    "Color": lambda x, m: saturation(x, 1.0 + m),
    "Contrast": lambda x, m: contrast(x, 1.0 + m),
    "Sharpness": lambda x, m: sharpness(x, 1.0 + m),
    "Posterize": lambda x, m: posterize(x, m.long()),
    "Solarize": lambda x, m: solarize(x, _bound(x.dtype) * m),
    "AutoContrast": lambda x, m: autocontrast(x),
    "Equalize": lambda x, m: equalize(x),
    "Invert": lambda x, m: invert(x),
}


def apply_op(x: torch.Tensor, op: int, magnitudes: torch.Tensor) -> torch.Tensor:
    """Apply one non-geometric operation (by id) to every image, with per-image magnitudes."""
    name = OPS[op]
    if name not in _NON_GEOMETRIC:
        raise ValueError(f"{name} is a geometric operation; use geometric()")
    return _NON_GEOMETRIC[name](x, magnitudes)


def apply_ops(x: torch.Tensor, op_ids: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
    """Apply operation ``op_ids[i]`` with ``magnitudes[i]`` to image ``i`` of ``x``.

    Images are grouped by operation; the geometric ones share a single warp. ``x`` is
    not modified.
    """
    ops = op_ids.cpu()
    present = torch.unique(ops).tolist()
    if present == [0]:
        return x.clone()
    if len(present) == 1 and present[0] not in GEOMETRIC:
        out = apply_op(x, present[0], magnitudes)
        return out.clone() if out is x else out
    out = x.clone()
    geo = torch.zeros_like(ops, dtype=torch.bool)
    for op in present:
        if op in GEOMETRIC:
            geo |= ops == op
        elif op != 0:
            idx = (ops == op).nonzero().squeeze(1).to(x.device)
            out[idx] = apply_op(x[idx], op, magnitudes.to(x.device)[idx])
    if geo.any():
        idx = geo.nonzero().squeeze(1)
        dev_idx = idx.to(x.device)
        out[dev_idx] = geometric(x[dev_idx], ops[idx], magnitudes.cpu()[idx])
    return out


def magnitude_table(space: dict, num_bins: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Turn a torchvision augmentation space into tensors.

    Returns ``op_ids`` (K), ``magnitudes`` (K×num_bins, float64; zeros for operations
    without a magnitude) and ``signed`` (K, bool) for the K operations of ``space``.
    """
    ids, mags, signed = [], [], []
    for name, (fn, is_signed) in space.items():
        ids.append(OPS.index(name))
        values = fn(num_bins, height, width)
        mags.append(torch.zeros(num_bins, dtype=torch.float64) if values is None else values.double())
        signed.append(bool(is_signed))
    return torch.tensor(ids), torch.stack(mags), torch.tensor(signed)

