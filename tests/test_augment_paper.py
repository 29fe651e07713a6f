"""The paper's nine DAs (Wang et al., NeurIPS 2022, §4 and its code), checked against torchvision applied image by image."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from dastat.augment import PAPER_DAS, AugmentContext, available, create
from dastat.data import DATASETS
from dastat.errors import UserError

from test_augment_helpers import batch, context


def _context(dataset: str) -> AugmentContext:
    """What the data layer tells a DA about ``dataset`` (as ImageData.augment_context does)."""
    info = DATASETS[dataset]
    return AugmentContext(mean=info.mean, std=info.std, autoaugment_policy=info.autoaugment_policy,
                          cutout_size=info.cutout_size)


def test_paper_das_are_registered_in_order():
    assert PAPER_DAS == ("identity", "flip", "crop_flip", "cutout", "autoaugment",
                         "mixup", "cutmix", "cutmix_pick_s", "cutmix_pick_t")
    assert available()[:9] == list(PAPER_DAS)


def test_flip_mirrors_every_image():
    x, y = batch(3, channels=3)
    out = create("flip")(x, y)
    assert torch.equal(out.x, torch.stack([TF.horizontal_flip(img) for img in x]))


@pytest.mark.parametrize("per_sample", [False, True])
def test_crop_flip_matches_pad_crop_flip(per_sample):
    x, y = batch(6, size=16)
    out = create(f"crop_flip(per_sample={per_sample})")(x, y, generator=torch.Generator().manual_seed(4))
    p = out.params
    assert p["padding"] == 2  # 1/8 of 16
    offsets = p["offsets"].expand(6, 2)
    flips = p["flip"].expand(6)
    if not per_sample:
        assert p["offsets"].shape == (1, 2) and p["flip"].shape == (1,)
    for i in range(6):
        ref = TF.crop(TF.pad(x[i], [2]), int(offsets[i, 0]), int(offsets[i, 1]), 16, 16)
        if flips[i]:
            ref = TF.horizontal_flip(ref)
        assert torch.equal(out.x[i], ref)


def test_crop_flip_offsets_cover_the_padded_range():
    x, _ = batch(1, size=16)
    seen = set()
    for s in range(300):
        seen.add(tuple(create("crop_flip")(x, generator=torch.Generator().manual_seed(s)).params["offsets"][0].tolist()))
    assert {o for pair in seen for o in pair} == set(range(5))


@pytest.mark.parametrize("dataset, side, expected", [
    ("cifar10", 32, 16), ("cifar100", 32, 8), ("imagefolder", 64, 16), ("imagefolder", 224, 56), ("fashion-mnist", 28, 7),
])
def test_cutout_default_size(dataset, side, expected):
    aug = create("cutout", _context(dataset))
    assert aug.hole_size(side) == expected


def test_cutout_fills_one_clipped_square_with_the_mean():
    x = torch.full((4, 3, 32, 32), 0.9)
    ctx = _context("cifar100")
    for seed in range(30):
        out = create("cutout", ctx)(x, generator=torch.Generator().manual_seed(seed))
        top, left, bottom, right = out.params["boxes"][0, 0].tolist()
        # One shared hole of side 8 centred uniformly, clipped at the borders.
        assert 0 <= top <= bottom <= 32 and 0 <= left <= right <= 32
        assert bottom - top <= 8 and right - left <= 8
        hole = torch.zeros(32, 32, dtype=torch.bool)
        hole[top:bottom, left:right] = True
        for c, m in enumerate(ctx.mean):
            assert torch.allclose(out.x[:, c][:, hole], torch.tensor(m))
            assert torch.all(out.x[:, c][:, ~hole] == 0.9)


def test_cutout_uint8_fill_and_one_channel():
    x = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    out = create("cutout", AugmentContext(mean=(0.2860,)))(x, generator=torch.Generator().manual_seed(0))
    assert set(out.x.unique().tolist()) <= {200, round(0.2860 * 255)}


@pytest.mark.parametrize("dataset, policy", [("cifar10", "cifar10"), ("cifar100", "cifar10"),
                                             ("fashion-mnist", "cifar10"), ("imagefolder", "imagenet")])
def test_autoaugment_policy_by_dataset(dataset, policy):
    out = create("autoaugment", _context(dataset))(batch(2, 3)[0], generator=torch.Generator().manual_seed(0))
    assert out.params["policy"] == policy


def test_autoaugment_draws_one_subpolicy_per_batch():
    x, _ = batch(16, channels=3, size=16)
    out = create("autoaugment")(x, generator=torch.Generator().manual_seed(2))
    assert out.params["subpolicy"].shape == (1,)
    per = create("autoaugment(per_sample=True)")(x, generator=torch.Generator().manual_seed(2))
    assert per.params["subpolicy"].shape == (16,)


def test_cutmix_pick_s_needs_a_student():
    with pytest.raises(UserError, match="cutmix_pick_s needs a student: pass --student SPEC"):
        create("cutmix_pick_s", AugmentContext(teacher=context().teacher))
    with pytest.raises(UserError, match="needs a student"):
        create("pick(criterion=kl)", AugmentContext(teacher=context().teacher))


def test_pick_needs_a_teacher():
    with pytest.raises(UserError, match="teacher"):
        create("cutmix_pick_t")


def test_cutmix_pick_t_pool_of_two_batches():
    x, y = batch(8)
    out = create("cutmix_pick_t", context())(x, y, generator=torch.Generator().manual_seed(0))
    assert out.forwards == 16 and out.teacher_logits.shape == (8, 5) and out.y.shape == (8, 5)
    assert out.params["lam"].shape == (8,) and out.params["perm"].shape == (8,)
