"""sample/apply over the whole registry, the op spaces, parameter checks, CutMixPick as a drop-in.

Every registered DA draws all its randomness in ``sample`` and applies it
deterministically in ``apply``; the params are plain data that survive a
``torch.save``/``torch.load(weights_only=True)`` round trip and replay the batch.
"""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from dastat.augment import AugmentContext, CutMixPick, available, create, registry, spaces
from dastat.augment import ops as O
from dastat.errors import UserError

from test_augment_helpers import batch, context, registered_specs, tiny_net


def _specs() -> list[str]:
    return registered_specs("crop_flip+cutmix", "cutout+augmix", "pick(base=mixup,pool=3,criterion=kl)",
                            "pick(base=autoaugment,criterion=s_entropy)", "crop_flip+cutmix_pick_t")


def _equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return torch.equal(a, b)


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (torch.Tensor, bool, int, float, str))


@pytest.mark.parametrize("spec", _specs())
def test_sample_then_apply_is_the_call_and_apply_is_deterministic(spec):
    x, y = batch(6, size=12)
    aug = create(spec, context())
    g = torch.Generator().manual_seed(3)
    params = aug.sample(x, y, generator=g)
    after_sample = g.get_state()
    rng = torch.get_rng_state()
    first, second = aug.apply(x, y, params), aug.apply(x, y, params)
    assert torch.equal(rng, torch.get_rng_state()), "apply drew from the global RNG"
    call_gen = torch.Generator().manual_seed(3)
    called = aug(x, y, generator=call_gen)
    assert torch.equal(after_sample, call_gen.get_state()), "the call drew more than sample"
    for out in (second, called):
        assert torch.equal(first.x, out.x) and _equal(first.y, out.y)
        assert _equal(first.teacher_logits, out.teacher_logits) and first.forwards == out.forwards
    # The params are plain data: recorded with torch.save, loaded safely, they replay the batch.
    assert _plain(params), params
    buffer = io.BytesIO()
    torch.save(params, buffer)
    buffer.seek(0)
    replay = aug.apply(x, y, torch.load(buffer, weights_only=True))
    assert torch.equal(replay.x, first.x) and _equal(replay.y, first.y)


def test_sample_reads_only_the_batch_shape():
    x, y = batch(5, size=10)
    aug = create("crop_flip+cutmix(per_sample=True)", context())
    params = aug.sample(torch.zeros_like(x), y, generator=torch.Generator().manual_seed(1))
    assert torch.equal(aug.apply(x, y, params).x, aug(x, y, generator=torch.Generator().manual_seed(1)).x)


# --- op spaces, from the papers (AutoAugment, RandAugment, TrivialAugment, AugMix) ----------


def _table(space, bins=31, h=28, w=28):
    ids, mags, signed = O.magnitude_table(space, bins, h, w)
    return {O.OPS[int(i)]: (mags[k], bool(signed[k])) for k, i in enumerate(ids)}


def test_randaugment_space_matches_the_paper():
    t = _table(spaces.RANDAUGMENT, 31, 28, 28)
    assert list(t) == ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                       "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]
    assert math.isclose(float(t["Rotate"][0][-1]), 30.0) and math.isclose(float(t["ShearX"][0][-1]), 0.3, rel_tol=1e-6)
    assert math.isclose(float(t["TranslateX"][0][-1]), 150 / 331 * 28, rel_tol=1e-6)
    assert math.isclose(float(t["Brightness"][0][-1]), 0.9, rel_tol=1e-6)
    assert t["Posterize"][0][0] == 8 and t["Posterize"][0][-1] == 4 and not t["Posterize"][1]
    assert math.isclose(float(t["Solarize"][0][0]), 1.0) and float(t["Solarize"][0][-1]) == 0.0
    assert t["Rotate"][1] and not t["Solarize"][1] and "Invert" in spaces.AUTOAUGMENT


def test_trivialaugment_and_augmix_spaces():
    wide = _table(spaces.TRIVIALAUGMENT_WIDE)
    assert float(wide["Rotate"][0][-1]) == 135.0 and float(wide["TranslateY"][0][-1]) == 32.0
    assert wide["Posterize"][0][-1] == 2
    mix = _table(spaces.AUGMIX, 10, 30, 30)
    assert math.isclose(float(mix["TranslateX"][0][-1]), 10.0, rel_tol=1e-6) and mix["Posterize"][0][0] == 4
    assert set(spaces.AUGMIX) - set(spaces.AUGMIX_PARTIAL) == {"Brightness", "Color", "Contrast", "Sharpness"}


def test_autoaugment_policies():
    for name, subs in spaces.AUTOAUGMENT_POLICIES.items():
        assert len(subs) == 25 and all(len(s) == 2 for s in subs)
        assert all(op in spaces.AUTOAUGMENT and 0 <= p <= 1 for s in subs for op, p, _ in s)
    # Cubuk et al. 2019, the CIFAR-10 policy's first sub-policy.
    assert spaces.AUTOAUGMENT_POLICIES["cifar10"][0] == (("Invert", 0.1, None), ("Contrast", 0.2, 6))


def test_spaces_agree_with_torchvision_where_it_exposes_them():
    from torchvision.transforms import v2

    pairs = [(spaces.AUTOAUGMENT, v2.AutoAugment), (spaces.RANDAUGMENT, v2.RandAugment),
             (spaces.TRIVIALAUGMENT_WIDE, v2.TrivialAugmentWide), (spaces.AUGMIX, v2.AugMix)]
    if not all(hasattr(cls, "_AUGMENTATION_SPACE") for _, cls in pairs):
        pytest.skip("this torchvision keeps its spaces elsewhere")
    for ours, cls in pairs:
        a, b = _table(ours, 10, 13, 17), _table(cls._AUGMENTATION_SPACE, 10, 13, 17)
        assert list(a) == list(b)
        assert all(torch.equal(a[k][0], b[k][0]) and a[k][1] == b[k][1] for k in a)


# --- bad parameters are refused when the DA is created ------------------------------------

BAD = [
    ("crop_flip(padding=100000)", "crop_flip", "padding"),
    ("crop_flip(padding=-1)", "crop_flip", "padding"),
    ("cutout(size=0)", "cutout", "size"),
    ("cutout(size=-4)", "cutout", "size"),
    ("cutout(holes=0)", "cutout", "holes"),
    ("mixup(alpha=-1)", "mixup", "alpha"),
    ("cutmix(alpha=0)", "cutmix", "alpha"),
    ("mixup(alpha=True)", "mixup", "alpha"),
    ("randaugment(num_ops=-1,magnitude=99)", "randaugment", "num_ops"),
    ("randaugment(magnitude=99)", "randaugment", "magnitude"),
    ("trivialaugment(num_magnitude_bins=1)", "trivialaugment", "num_magnitude_bins"),
    ("augmix(severity=11)", "augmix", "severity"),
    ("augmix(chain_depth=0)", "augmix", "chain_depth"),
    ("autoaugment(policy=svhm)", "autoaugment", "policy"),
    ("pick(pool=0)", "pick", "pool"),
    ("pick(criterion=entropy)", "pick", "criterion"),
    ("cutmix_pick_t(pool=-2)", "cutmix_pick_t", "pool"),
]


@pytest.mark.parametrize("spec, da, param", BAD)
def test_bad_parameters_are_refused_naming_the_da_and_parameter(spec, da, param):
    ctx = context()
    ctx.image_size = 28
    with pytest.raises(UserError) as err:
        create(spec, ctx)
    message = str(err.value)
    assert f"{da}'s {param} must be" in message and message.count(". ") == 0


def test_padding_beyond_the_image_is_refused_at_the_first_batch_without_an_image_size():
    aug = create("crop_flip(padding=50)")
    with pytest.raises(ValueError, match="crop_flip's padding must be at most the image side 12"):
        aug(*batch(2, size=12))


@pytest.mark.parametrize("spec, words", [("cutmix(alpha=1,alpha=2)", "alpha twice"),
                                         ("pick(base=cutmix(alpha=1,alpha=2))", "alpha twice")])
def test_repeated_keywords_are_refused(spec, words):
    with pytest.raises(UserError, match=words):
        create(spec, context())


# --- CutMixPick in a training loop ----------------------------------------------------------


def test_cutmixpick_labels_are_as_wide_as_the_teacher_when_the_batch_misses_classes():
    teacher = tiny_net(1, 10, 0)
    pick = CutMixPick(teacher, pool=2)
    for seed, top in [(0, 6), (1, 3), (2, 9)]:
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(8, 1, 12, 12, generator=g)
        y = torch.randint(0, top, (8,), generator=g)  # classes top..9 never appear
        out = pick(x, y, generator=g)
        assert out.y.shape == (8, 10)
        lam, src, perm = out.params["lam"].double(), out.params["source"], out.params["perm"]
        eye = torch.eye(10, dtype=torch.float64)
        expected = lam.view(-1, 1) * eye[y[src]] + (1 - lam.view(-1, 1)) * eye[y[perm]]
        assert torch.allclose(out.y.double(), expected, atol=1e-6)
        nn.functional.cross_entropy(teacher(out.x), out.y)  # soft targets of the logits' width


def test_cutmixpick_num_classes_must_be_positive():
    with pytest.raises(ValueError, match="num_classes"):
        CutMixPick(tiny_net(), num_classes=0)


@pytest.mark.parametrize("criterion", ["t_entropy", "s_entropy"])
def test_cutmixpick_returns_the_teachers_penultimate_features(criterion):
    teacher, student = tiny_net(1, 5, 0), tiny_net(1, 5, 1)
    pick = CutMixPick(teacher, pool=2, criterion=criterion, student=student, return_features=True)
    x, y = batch(6, dtype=torch.float32)
    out = pick(x, y, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = teacher[:-1](out.x)  # everything before the classifier
    assert out.teacher_features.shape == (6, 16)
    assert torch.allclose(out.teacher_features, expected, atol=1e-5)
    custom = CutMixPick(teacher, pool=2, return_features=True, features=lambda v: v.mean(dim=(1, 2, 3)))
    out = custom(x, y, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out.teacher_features, out.x.mean(dim=(1, 2, 3)))
    assert CutMixPick(teacher)(x, y).teacher_features is None


def test_cutmixpick_features_need_a_linear_layer():
    with pytest.raises(UserError, match="features=callable"):
        CutMixPick(nn.Sequential(nn.Conv2d(1, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), return_features=True)


def test_flags_in_registry_entries_match_built_das():
    ctx = context()
    for name in available():
        built = create(name, ctx)
        flags = registry.entry(name).flags
        assert flags == {k: bool(getattr(built, k)) for k in registry.FLAGS}, name


def test_augment_context_num_classes_is_kept_by_cutmixpick():
    out = CutMixPick(tiny_net(1, 5, 0), context=AugmentContext(num_classes=5))(*batch(4))
    assert out.y.shape == (4, 5)


@pytest.mark.parametrize("spec, da, param", [b for b in BAD if b[0] != "crop_flip(padding=100000)"])
def test_check_refuses_bad_values_before_data_or_models(spec, da, param):
    from dastat.augment.registry import check

    with pytest.raises(UserError, match=f"{da}'s {param} must be"):
        check(spec)
    check("cutmix_pick_s(pool=3)")  # needs models, which only create can check
