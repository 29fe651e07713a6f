"""The tv: and timm: adapters give torchvision's and timm's own views, reproducibly.

Each test seeds the library by hand as the adapters document (one seed drawn from the
generator; torch, ``random`` and numpy seeded with it) and calls torchvision or timm
directly; the adapter must return the same tensors.
"""

import importlib.util
import random
import sys

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from dastat.augment import AugmentContext, CutMixPick, create
from dastat.errors import UserError

MEAN, STD = (0.2860,), (0.3530,)
CTX = AugmentContext(num_classes=10, image_size=28, channels=1, mean=MEAN, std=STD)
CTX_RGB = AugmentContext(num_classes=10, image_size=28, channels=3, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))


def _seed(s: int) -> int:
    """The seed an adapter draws from ``torch.Generator().manual_seed(s)``."""
    return int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(s)))


def _seed_globals(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _batch(n=4, c=1, dtype=torch.uint8, s=0):
    g = torch.Generator().manual_seed(100 + s)
    x = torch.randint(0, 256, (n, c, 28, 28), generator=g, dtype=torch.uint8)
    return (x if dtype == torch.uint8 else x.float() / 255), torch.randint(0, 10, (n,), generator=g)


def _run(spec, x, y, s=0, ctx=CTX):
    return create(spec, ctx)(x, y, generator=torch.Generator().manual_seed(s))


@pytest.mark.parametrize("spec, transform", [
    ("tv:RandAugment(num_ops=2, magnitude=9)", lambda: v2.RandAugment(num_ops=2, magnitude=9)),
    ("tv:TrivialAugmentWide", v2.TrivialAugmentWide),
    ("tv:AugMix(severity=3)", lambda: v2.AugMix(severity=3)),
    ("tv:AutoAugment", v2.AutoAugment),
    ("tv:ColorJitter(brightness=0.5, contrast=0.5)", lambda: v2.ColorJitter(brightness=0.5, contrast=0.5)),
])
def test_torchvision_single_image_transforms_are_torchvisions_per_image(spec, transform):
    x, y = _batch()
    out = _run(spec, x, y, s=3)
    _seed_globals(_seed(3))
    t = transform()
    expected = torch.stack([t(img) for img in x.clone()])
    assert torch.equal(out.x, expected) and not torch.equal(out.x, x)
    assert torch.equal(out.y, y) and not out.params.get("lam")


def test_torchvision_per_batch_draws_once_like_a_batched_call():
    x, y = _batch(n=6)
    out = _run("tv:RandAugment(num_ops=2, magnitude=9, per_sample=False)", x, y, s=5)
    _seed_globals(_seed(5))
    assert torch.equal(out.x, v2.RandAugment(num_ops=2, magnitude=9)(x.clone()))
    assert create("tv:RandAugment(per_sample=False)").shared_randomness
    assert not create("tv:RandAugment").shared_randomness


def test_torchvision_random_erasing_runs_after_normalize():
    x, y = _batch()
    out = _run("tv:RandomErasing(p=1.0)", x, y, s=1)
    _seed_globals(_seed(1))
    t = v2.RandomErasing(p=1.0)
    normalized = v2.Normalize(MEAN, STD)(x.float() / 255)
    erased = torch.stack([t(img) for img in normalized])
    assert torch.equal(out.x, (v2.Normalize((-MEAN[0] / STD[0],), (1 / STD[0],))(erased) * 255).round().clamp(0, 255).byte())
    # value=0 after Normalize is the mean before it: erased pixels hold round(255 * mean) = 73.
    changed = out.x != x
    assert changed.any() and (out.x[changed] == 73).all()


@pytest.mark.parametrize("name", ["CutMix", "MixUp"])
def test_torchvision_cutmix_mixup_are_torchvisions_with_lam_and_partner(name):
    x, y = _batch(n=6, dtype=torch.float32)
    out = _run(f"tv:{name}(alpha=1.0)", x, y, s=2)
    _seed_globals(_seed(2))
    ex, ey = getattr(v2, name)(alpha=1.0, num_classes=10)(x.clone(), y)
    assert torch.equal(out.x, ex) and torch.equal(out.y, ey)
    lam, perm = out.params["lam"], out.params["perm"]
    assert perm.tolist() == [5, 0, 1, 2, 3, 4]  # the batch rolled by one
    one_hot = torch.nn.functional.one_hot(y, 10).float()
    assert torch.allclose(out.y, lam * one_hot + (1 - lam) * one_hot[perm])
    if name == "MixUp":
        assert torch.allclose(out.x, lam * x + (1 - lam) * x[perm], atol=1e-6)
    else:
        x1, y1, x2, y2 = out.params["box_xyxy"]
        inside = torch.zeros(28, 28, dtype=torch.bool)
        inside[y1:y2, x1:x2] = True
        assert torch.equal(out.x, torch.where(inside, x[perm], x))
        assert lam == pytest.approx(1 - inside.float().mean().item())
    assert create(f"tv:{name}").mixes


def test_torchvision_mixup_on_uint8_rounds_torchvisions_floats():
    x, y = _batch(n=4)
    out = _run("tv:MixUp(alpha=1.0)", x, y, s=4)
    _seed_globals(_seed(4))
    ex, _ = v2.MixUp(alpha=1.0, num_classes=10)(x.float() / 255, y)
    assert out.x.dtype == torch.uint8 and torch.equal(out.x, (ex * 255).round().byte())


needs_timm = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is an optional extra")


def _timm_policy(config: str, channels: int, mean):
    """The augmentation transform timm's own create_transform builds for training (interpolation random)."""
    from timm.data import create_transform

    pipeline = create_transform(28, is_training=True, auto_augment=config, interpolation="random",
                                mean=mean, std=(0.25,) * channels)
    kinds = ("RandAugment", "AugMixAugment", "AutoAugment")
    return next(t for t in pipeline.transforms if type(t).__name__ in kinds)


@needs_timm
@pytest.mark.parametrize("config", ["rand-m9-mstd0.5-inc1", "rand-m9-mstd0.5", "augmix-m5-w4-d2", "original-mstd0.5"])
@pytest.mark.parametrize("ctx", [CTX, CTX_RGB], ids=["grey", "rgb"])
def test_timm_strings_are_timms_own_per_image(config, ctx):
    from torchvision.transforms.v2 import functional as F

    x, y = _batch(n=4, c=ctx.channels)
    out = _run(f"timm:{config}", x, y, s=6, ctx=ctx)
    policy = _timm_policy(config, ctx.channels, ctx.mean)
    _seed_globals(_seed(6))
    expected = torch.stack([F.pil_to_tensor(policy(F.to_pil_image(img))) for img in x])
    assert torch.equal(out.x, expected) and not torch.equal(out.x, x)
    again = _run(f"timm:{config}", x, y, s=6, ctx=ctx)
    assert torch.equal(out.x, again.x)


MIXUP_ARGS = dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1)


@needs_timm
@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("s", [0, 1, 2, 3])
def test_timm_mixup_is_timms_own_with_lam_and_partner(mode, s):
    from timm.data import Mixup

    x, y = _batch(n=6, dtype=torch.float32, s=s)
    spec = "timm:Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1, mode=%s)" % mode
    out = _run(spec, x, y, s=s)
    _seed_globals(_seed(s))
    ex, ey = Mixup(**MIXUP_ARGS, mode=mode, num_classes=10)(x.clone(), y)
    assert torch.equal(out.x, ex) and torch.equal(out.y, ey)
    perm = out.params["perm"]
    assert perm.tolist() == [5, 4, 3, 2, 1, 0]  # the batch reversed
    lam = torch.as_tensor(out.params["lam"], dtype=torch.float32).expand(6).view(6, 1)
    off = 0.1 / 10
    smooth = torch.nn.functional.one_hot(y, 10).float() * (1 - 0.1) + off
    assert torch.allclose(out.y, lam * smooth + (1 - lam) * smooth[perm], atol=1e-6)


@needs_timm
def test_timm_mixup_with_minmax_and_prob():
    from timm.data import Mixup

    x, y = _batch(n=4, dtype=torch.float32)
    for s in range(4):
        out = _run("timm:Mixup(cutmix_minmax=[0.2, 0.8], prob=0.5, correct_lam=False)", x, y, s=s)
        _seed_globals(_seed(s))
        ex, ey = Mixup(cutmix_minmax=[0.2, 0.8], prob=0.5, correct_lam=False, num_classes=10)(x.clone(), y)
        assert torch.equal(out.x, ex) and torch.equal(out.y, ey)


@needs_timm
def test_timm_mixup_refuses_odd_batches_and_bad_modes():
    x, y = _batch(n=3)
    with pytest.raises(ValueError, match="even batch size, got 3"):
        _run("timm:Mixup", x, y)
    with pytest.raises(UserError, match="mode must be one of batch, pair, elem"):
        create("timm:Mixup(mode=rows)")


@needs_timm
def test_timm_random_erasing_runs_after_normalisation():
    from timm.data.random_erasing import RandomErasing

    x, y = _batch(n=4, dtype=torch.float32)
    out = _run("timm:RandomErasing(probability=1.0, mode=pixel, max_count=2)", x, y, s=7)
    _seed_globals(_seed(7))
    expected = RandomErasing(probability=1.0, mode="pixel", max_count=2, device="cpu")((x - MEAN[0]) / STD[0])
    assert torch.allclose((out.x - MEAN[0]) / STD[0], expected, atol=1e-5)
    assert not torch.equal(out.x, x)


@needs_timm
def test_adapters_leave_the_global_generators_as_they_were():
    x, y = _batch(n=4)
    torch.manual_seed(11), random.seed(11), np.random.seed(11)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(11), random.seed(11), np.random.seed(11)
    for spec in ("tv:RandAugment", "tv:CutMix", "timm:rand-m9-mstd0.5", "timm:Mixup(cutmix_alpha=1.0)"):
        _run(spec, x, y)
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]
    assert np.random.rand() == expected[2]


@needs_timm
def test_library_specs_compose_grid_and_name_their_errors():
    from dastat.augment.spec import expand_grid, parse

    assert parse("crop_flip+tv:RandAugment(num_ops=2)+timm:rand-m9-mstd0.5-inc1") == [
        ("crop_flip", {}), ("tv:RandAugment", {"num_ops": 2}), ("timm:rand-m9-mstd0.5-inc1", {})]
    assert expand_grid("tv:RandAugment(num_ops=1|2)") == ["tv:RandAugment(num_ops=1)", "tv:RandAugment(num_ops=2)"]
    aug = create("crop_flip+timm:Mixup(mixup_alpha=0.8, label_smoothing=0.1)", CTX)
    assert aug.spec == "crop_flip+timm:Mixup(mixup_alpha=0.8)" and aug.mixes  # timm's defaults are dropped
    with pytest.raises(UserError, match="no transform 'RandAugmnt' \\(did you mean 'tv:RandAugment'\\?\\)"):
        create("tv:RandAugmnt")
    with pytest.raises(UserError, match="tv:RandAugment has no parameter 'magnitud'"):
        create("tv:RandAugment(magnitud=9)")
    with pytest.raises(UserError, match="timm has no augmentation 'randy-m9'"):
        create("timm:randy-m9")


def test_timm_missing_is_one_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(UserError, match=r"^'timm:rand-m9-mstd0.5' needs timm, which is not installed"):
        create("timm:rand-m9-mstd0.5")


@needs_timm
def test_mixing_adapters_score_as_mixing_das_in_blocks():
    from dastat.scoring.config import ScoreConfig
    from dastat.scoring.protocols import FastProtocol

    protocol = FastProtocol(ScoreConfig())
    assert protocol.units(create("timm:Mixup(cutmix_alpha=1.0)", CTX), 10).name == "block"
    assert protocol.units(create("tv:CutMix", CTX), 10).name == "block"
    assert protocol.units(create("timm:rand-m9-mstd0.5", CTX), 10).name == "pair"
    assert protocol.units(create("tv:RandAugment(per_sample=False)", CTX), 10).name == "split"


@needs_timm
def test_augment_result_unpacks_like_torchvision_cutmix():
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    pick = CutMixPick(teacher, pool=2)
    x, y = _batch(n=4, dtype=torch.float32)
    out = pick(x, y, generator=torch.Generator().manual_seed(0))
    views, labels = pick(x, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(views, out.x) and torch.equal(labels, out.y) and labels.shape == (4, 10)
    # timm's soft targets go straight in, as in a timm training loop.
    from timm.data import Mixup

    mixed, soft = Mixup(cutmix_alpha=1.0, num_classes=10)(x.clone(), y)
    views, labels = pick(mixed, soft)
    assert views.shape == x.shape and torch.allclose(labels.sum(1), torch.ones(4))


@needs_timm
def test_timm_specs_score_on_the_bundled_teacher(fmnist, bundled_teacher):
    import dastat

    small = fmnist.subset(train=640, test=100)
    das = ["timm:rand-m9-mstd0.5", "timm:Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.7, label_smoothing=0.2)"]
    ranking = dastat.rank(das, bundled_teacher, small, max_images=256, seed=1)
    by_da = {r.da: r for r in ranking}
    policy, mixup = by_da["timm:rand-m9-mstd0.5"], by_da[das[1].replace(" ", "")]
    assert policy.unit == "pair" and mixup.unit == "block"
    for r in (policy, mixup):
        lo, hi = r.t_stddev_ci
        assert 0 < lo < r.t_stddev < hi and r.n_images == 256
    again = dastat.score(das[1], bundled_teacher, small, max_images=256, seed=1)
    assert again.t_stddev == mixup.t_stddev
