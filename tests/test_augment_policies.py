"""The AutoAugment-family operations against torchvision's own, image by image.

Every operation with per-image magnitudes must give each image what torchvision's
``_apply_image_or_video_transform`` gives that image alone: exactly for geometry,
posterize, solarize, autocontrast, equalize and invert; within one grey level for the
blends on uint8 (a float rounding can decide a truncation).
"""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2

from dastat.augment import create
from dastat.augment import ops as O
from dastat.augment import spaces

RANGES = {
    "ShearX": (-0.99, 0.99), "ShearY": (-0.99, 0.99), "TranslateX": (-14.0, 14.0), "TranslateY": (-14.0, 14.0),
    "Rotate": (-135.0, 135.0), "Solarize": (0.0, 1.0),
}
BLENDS = {"Brightness", "Color", "Contrast", "Sharpness"}
_TV = v2.RandAugment()


def _reference(img: torch.Tensor, op: int, magnitude: float) -> torch.Tensor:
    return _TV._apply_image_or_video_transform(img, O.OPS[op], magnitude, v2.InterpolationMode.NEAREST, _TV._fill)


def _images(channels: int, dtype: torch.dtype, n: int = 24) -> torch.Tensor:
    g = torch.Generator().manual_seed(channels)
    x = torch.randint(0, 256, (n, channels, 11, 13), generator=g, dtype=torch.uint8)
    x[:4] = x[:4] // 4 + 60  # low contrast: autocontrast and equalize have work to do
    x[4] = 77  # flat image
    return x if dtype == torch.uint8 else x.to(dtype) / 255


@pytest.mark.parametrize("name", O.OPS)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_op_matches_torchvision_per_image(name, channels, dtype):
    x = _images(channels, dtype)
    n = x.shape[0]
    lo, hi = RANGES.get(name, (-0.99, 0.99))
    mags = torch.linspace(lo, hi, n, dtype=torch.float64)
    if name == "Posterize":
        mags = (torch.arange(n) % 9).double()
    ops = torch.full((n,), O.OPS.index(name))
    ops[::5] = O.OPS.index("Rotate")  # mixed groups share the batch
    ops[1::7] = 0
    out = O.apply_ops(x, ops, mags)
    ref = torch.stack([_reference(x[i], int(ops[i]), float(mags[i])) for i in range(n)])
    assert out.dtype == x.dtype
    diff = (out.double() - ref.double()).abs().max().item()
    tol = (1.0 if dtype == torch.uint8 else 1e-5) if name in BLENDS else (0 if dtype == torch.uint8 else 1e-6)
    assert diff <= tol


def _replay(x, params):
    out = x
    for layer in range(params["ops"].shape[0]):
        ops = params["ops"][layer].expand(x.shape[0])
        mags = params["magnitudes"][layer].expand(x.shape[0])
        out = torch.stack([_reference(out[i], int(ops[i]), float(mags[i])) for i in range(x.shape[0])])
    return out


@pytest.mark.parametrize("spec", ["autoaugment", "autoaugment(per_sample=True)", "autoaugment(policy=svhn,per_sample=True)",
                                  "randaugment(num_ops=2,magnitude=9,per_sample=True)", "randaugment",
                                  "trivialaugment(per_sample=True)", "trivialaugment"])
def test_policy_equals_torchvision_ops_with_the_recorded_draws(spec):
    x = _images(3, torch.uint8, 16)
    out = create(spec)(x, generator=torch.Generator().manual_seed(5))
    ref = _replay(x, out.params)
    assert (out.x.double() - ref.double()).abs().max() <= 1.0
    per_sample = "per_sample=True" in spec
    assert out.params["ops"].shape[1] == (16 if per_sample else 1)


def test_randaugment_uses_torchvision_magnitude_and_op_list():
    space = list(spaces.RANDAUGMENT)
    seen, mags = set(), set()
    for s in range(40):
        p = create("randaugment(num_ops=1,magnitude=9,per_sample=True)")(
            torch.zeros(8, 1, 8, 8), generator=torch.Generator().manual_seed(s)).params
        seen |= {O.OPS[i] for i in p["ops"].flatten().tolist()}
        mags |= {round(abs(m), 6) for m, i in zip(p["magnitudes"].flatten().tolist(), p["ops"].flatten().tolist())
                 if O.OPS[i] == "Rotate"}
    assert seen == set(space)
    assert mags == {round(float(torch.linspace(0, 30, 31)[9]), 6)}


def test_augmix_is_a_convex_mixture_and_per_image_weights():
    x = torch.rand(6, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    out = create("augmix(per_sample=True)")(x, generator=torch.Generator().manual_seed(1))
    total = out.params["m"] + out.params["weights"].sum(1)
    assert torch.allclose(total, torch.ones(6), atol=1e-5)
    assert out.x.min() >= 0 and out.x.max() <= 1
